# Sourced by the edge gateway's benchmarks (bench-edge.sh, bench-opcua.sh, bench-forward.sh): the
# binary to measure, a work directory removed at exit (kept with KEEP=1), the processes to stop at
# exit (PIDS), and the helpers they share. Expects to run from the project's root.
# shellcheck source=packages.sh
source scripts/lib/packages.sh
has_command mosquitto || apt_install mosquitto mosquitto-clients
export PATH="$PATH:/usr/sbin"
# GEMBA_BIN measures another build (an earlier commit's, for a before/after in one run).
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
WORK=$(mktemp -d "/tmp/gemba-${BENCH_NAME:-bench}.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
# port: a free loopback port.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# wait_port PORT: until something listens on it (10 s at most).
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; exit 1; }
# cpu_ticks PID: user + system time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
