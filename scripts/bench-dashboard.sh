#!/usr/bin/env bash
# Dashboard floor benchmark: release build, `gemba serve --demo` with N machines (default 500, no
# history), headless Chromium measuring the floor's first meaningful paint and its frame gaps under
# the live stream. Usage: scripts/bench-dashboard.sh [machines]. Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
MACHINES=${1:-500}
swift build -c release --product gemba >/dev/null
WORK=$(mktemp -d /tmp/gemba-bench-dashboard.XXXXXX)
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
HTTP_PORT=$(port)
export GEMBA_ADMIN_PASSWORD="bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
.build/release/gemba serve --demo --demo-machines "$MACHINES" --demo-history-hours 0 --http-port "$HTTP_PORT" --mqtt-port "$(port)" \
    --data-dir "$WORK/data" --log-level error 2>"$WORK/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null && break; sleep 0.1; done
GEMBA_HTTP_URL="http://127.0.0.1:$HTTP_PORT" python3 Tests/Browser/bench_floor.py "$MACHINES"
