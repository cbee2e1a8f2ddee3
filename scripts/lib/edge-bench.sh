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
# shellcheck source=ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
port() { free_port; }
# cpu_ticks PID: user + system time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
