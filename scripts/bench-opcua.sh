#!/usr/bin/env bash
# OPC UA edge benchmark (release build): one open62541 server (PyPI o6) with ITEMS Double variables,
# every one changing once a second; `gemba edge run --config` subscribes to all of them (publishing
# interval 100 ms, sampling 100 ms) and publishes Sparkplug B to Debian's mosquitto. A subscriber
# decodes every DDATA and measures, per value, source time -> arrival at the broker's subscriber.
# Measures the gateway's CPU from /proc over SECONDS after a warm-up, and the values delivered.
# Usage: scripts/bench-opcua.sh [items] [seconds]   (default 50000 60). Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-50000}
SECONDS_MEASURED=${2:-60}
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
has_command mosquitto || apt_install mosquitto mosquitto-clients
has_python_modules o6 paho.mqtt || pip_install 'o6>=2.2,<3' 'paho-mqtt>=2,<3'
export PATH="$PATH:/usr/sbin"
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
WORK=$(mktemp -d /tmp/gemba-bench-opcua.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

MP=$(port); SP=$(port)
mosquitto -p "$MP" 2>"$WORK/mosquitto.log" &
PIDS+=($!)
python3 scripts/lib/opcua_bench_server.py "$SP" "$ITEMS" >"$WORK/server.log" 2>&1 &
SERVER=$!; PIDS+=("$SERVER")
wait_port "$MP"
for _ in $(seq 600); do grep -q ready "$WORK/server.log" && break; sleep 0.1; done
grep -q ready "$WORK/server.log" || { cat "$WORK/server.log"; exit 1; }

python3 - "$WORK/edge.yaml" "$MP" "$SP" "$ITEMS" <<'PY'
import sys
path, broker, server, items = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lines = [f"broker: mqtt://127.0.0.1:{broker}", "sparkplug: {group: bench, node: gateway}", "opcua:",
         "  - device: server", f"    endpoint: opc.tcp://127.0.0.1:{server}", "    publishingInterval: 100ms", "    timeout: 30s", "    tags:"]
lines += [f"      - {{name: v{i}, node: \"ns=1;s=v{i}\", sampling: 100ms, queueSize: 2}}" for i in range(items)]
open(path, "w").write("\n".join(lines) + "\n")
PY

WARMUP=20  # the session, 50,000 monitored items created, the births, first notifications
python3 scripts/lib/sparkplug_latency.py "$MP" bench "$WARMUP" > "$WORK/latency.json" &
SUB=$!; PIDS+=("$SUB")
"$GEMBA" edge run --config "$WORK/edge.yaml" --log-format json --log-level notice 2>"$WORK/edge.log" &
EDGE=$!; PIDS+=("$EDGE")
sleep "$WARMUP"
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$EDGE/status")
before=$(cpu_ticks "$EDGE"); server_before=$(cpu_ticks "$SERVER")
sleep "$SECONDS_MEASURED"
after=$(cpu_ticks "$EDGE"); server_after=$(cpu_ticks "$SERVER")
kill -TERM "$SUB"; wait "$SUB" || true
kill -TERM "$EDGE"; wait "$EDGE" || true
python3 - "$WORK/latency.json" "$ITEMS" "$SECONDS_MEASURED" "$before" "$after" "$server_before" "$server_after" "$(getconf CLK_TCK)" "$RSS_KB" <<'PY'
import json, sys
latency = json.load(open(sys.argv[1]))
items, seconds = int(sys.argv[2]), int(sys.argv[3])
before, after, s_before, s_after, hz, rss = map(int, sys.argv[4:10])
cpu = (after - before) / hz
print(json.dumps({
    "label": "edge-opcua", "items": items, "seconds": seconds,
    "gateway_cpu_percent_of_one_core": round(100 * cpu / seconds, 1),
    "gateway_cpu_us_per_value": round(1e6 * cpu / max(1, latency["values_per_second"] * seconds), 2),
    "gateway_rss_mb": round(rss / 1024, 1),
    "values_per_second_at_broker": latency["values_per_second"], "expected_per_second": items,
    "latency_ms_p50": latency["latency_ms_p50"], "latency_ms_p99": latency["latency_ms_p99"], "latency_ms_max": latency["latency_ms_max"],
    "server_cpu_percent_of_one_core": round(100 * (s_after - s_before) / hz / seconds, 1),
}))
PY
