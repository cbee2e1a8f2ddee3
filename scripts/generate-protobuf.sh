#!/usr/bin/env bash
# Regenerates Sources/Sparkplug/Generated/sparkplug_b.pb.swift from Protos/sparkplug_b.proto.
#
# Needs protoc (Debian: apt-get install protobuf-compiler) and protoc-gen-swift built from the
# swift-protobuf version Package.swift uses (CI never runs this; the output is committed):
#   git clone https://github.com/apple/swift-protobuf && cd swift-protobuf && git checkout 1.39.0
#   swift build -c release --product protoc-gen-swift
#   PROTOC_GEN_SWIFT=$PWD/.build/release/protoc-gen-swift scripts/generate-protobuf.sh
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
[ -x "$plugin" ] || { echo "protoc-gen-swift not found: set PROTOC_GEN_SWIFT" >&2; exit 1; }
mkdir -p Sources/Sparkplug/Generated
protoc --plugin=protoc-gen-swift="$plugin" --proto_path=Protos \
  --swift_opt=FileNaming=DropPath \
  --swift_out=Sources/Sparkplug/Generated Protos/sparkplug_b.proto
echo "wrote Sources/Sparkplug/Generated/sparkplug_b.pb.swift"
