#!/usr/bin/env bash
# OPC UA edge benchmark (release build): open62541 servers (PyPI o6) with ITEMS Double variables in
# all, every one changing once a second; `gemba edge run --config` subscribes to all of them
# (publishing and sampling interval INTERVAL_MS, 100 ms by default), one device per server, and publishes Sparkplug B to
# Debian's mosquitto. SERVERS servers share the items: one open62541 server monitors at most 32,768
# items in all, whatever the sessions. A subscriber
# (mosquitto_sub, capturing arrival times and payloads; decoded after the run) measures, per value,
# source time -> arrival at the broker's subscriber, and counts the changes missing from each
# metric's run of counter values (every change must arrive).
# Measures the gateway's CPU from /proc over SECONDS after a warm-up, and the values delivered.
# Usage: scripts/bench-opcua.sh [items] [seconds] [servers]   (default 50000 60 2). Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-50000}
SECONDS_MEASURED=${2:-60}
SERVERS=${3:-2}
INTERVAL_MS=${INTERVAL_MS:-100}  # publishing and sampling interval
BENCH_NAME=bench-opcua
# shellcheck source=lib/edge-bench.sh
source scripts/lib/edge-bench.sh
has_python_modules o6 || pip_install 'o6>=2.2,<3'

MP=$(port)
mosquitto -p "$MP" 2>"$WORK/mosquitto.log" &
PIDS+=($!)
SERVER_PORTS=(); SERVER_PIDS=()
for s in $(seq 0 $((SERVERS - 1))); do
    SP=$(port)
    python3 scripts/lib/opcua_bench_server.py "$SP" $(( (ITEMS - s + SERVERS - 1) / SERVERS )) >"$WORK/server$s.log" 2>&1 &
    SERVER_PIDS+=($!); PIDS+=($!); SERVER_PORTS+=("$SP")
done
wait_port "$MP"
for s in $(seq 0 $((SERVERS - 1))); do
    for _ in $(seq 600); do grep -q ready "$WORK/server$s.log" && break; sleep 0.1; done
    grep -q ready "$WORK/server$s.log" || { cat "$WORK/server$s.log"; exit 1; }
done
servers_cpu() { local total=0; for p in "${SERVER_PIDS[@]}"; do total=$((total + $(cpu_ticks "$p"))); done; echo "$total"; }

python3 - "$WORK/edge.yaml" "$MP" "$ITEMS" "$INTERVAL_MS" "${SERVER_PORTS[@]}" <<'PY'
import sys
path, broker, items, interval, ports = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
lines = [f"broker: mqtt://127.0.0.1:{broker}", "sparkplug: {group: bench, node: gateway}", "opcua:"]
for server, port in enumerate(ports):
    lines += [f"  - device: server{server}", f"    endpoint: opc.tcp://127.0.0.1:{port}", f"    publishingInterval: {interval}ms", "    timeout: 30s",
              "    tags:"]
    count = (items - server + len(ports) - 1) // len(ports)
    lines += [f"      - {{name: v{i}, node: \"ns=1;s=v{i}\", sampling: {interval}ms, queueSize: 2}}" for i in range(count)]
open(path, "w").write("\n".join(lines) + "\n")
PY

WARMUP=20  # the session, 50,000 monitored items created, the births, first notifications
mosquitto_sub -p "$MP" -t 'spBv1.0/bench/DDATA/#' -F '%U %x' > "$WORK/capture.txt" &
SUB=$!; PIDS+=("$SUB")
"$GEMBA" edge run --config "$WORK/edge.yaml" --log-format json --log-level notice 2>"$WORK/edge.log" &
EDGE=$!; PIDS+=("$EDGE")
sleep "$WARMUP"
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$EDGE/status")
before=$(cpu_ticks "$EDGE"); server_before=$(servers_cpu); from=$(date +%s.%N)
sleep "$SECONDS_MEASURED"
after=$(cpu_ticks "$EDGE"); server_after=$(servers_cpu); to=$(date +%s.%N)
kill -TERM "$EDGE"; wait "$EDGE" || true
kill -TERM "$SUB"; wait "$SUB" || true
python3 scripts/lib/sparkplug_latency.py "$WORK/capture.txt" "$from" "$to" > "$WORK/latency.json"
python3 - "$WORK/latency.json" "$ITEMS" "$SECONDS_MEASURED" "$before" "$after" "$server_before" "$server_after" "$(getconf CLK_TCK)" "$RSS_KB" "$SERVERS" "$INTERVAL_MS" <<'PY'
import json, sys
latency = json.load(open(sys.argv[1]))
items, seconds = int(sys.argv[2]), int(sys.argv[3])
before, after, s_before, s_after, hz, rss = map(int, sys.argv[4:10])
cpu = (after - before) / hz
print(json.dumps({
    "label": "edge-opcua", "items": items, "servers": int(sys.argv[10]), "interval_ms": int(sys.argv[11]), "seconds": seconds,
    "gateway_cpu_percent_of_one_core": round(100 * cpu / seconds, 1),
    "gateway_cpu_us_per_value": round(1e6 * cpu / max(1, latency["values_per_second"] * seconds), 2),
    "gateway_rss_mb": round(rss / 1024, 1),
    "values_per_second_at_broker": latency["values_per_second"], "expected_per_second": items,
    "metrics_seen": latency["metrics"], "changes_missing": latency["missing"],
    "latency_ms_p50": latency["latency_ms_p50"], "latency_ms_p99": latency["latency_ms_p99"], "latency_ms_max": latency["latency_ms_max"],
    "servers_cpu_percent_of_one_core": round(100 * (s_after - s_before) / hz / seconds, 1),
}))
PY
