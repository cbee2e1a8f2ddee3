#!/usr/bin/env bash
# Runs Gemba with the demo factory: installs what building it needs when missing (SQLite and
# zlib headers, the time-zone database), then `swift run -c release gemba serve --demo`.
# Extra arguments go to `gemba serve` (for example --http-port 8081). `--setup-only` stops
# after the set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
command -v swift >/dev/null || { echo "Swift 6 is needed first: https://www.swift.org/install/linux/" >&2; exit 1; }
ensure_build_packages
if [ "${1:-}" = --setup-only ]; then echo "set-up done"; exit 0; fi
exec swift run -c release gemba serve --demo "$@"
