#!/usr/bin/env bash
# Edge gateway benchmark (release build): DEVICES Modbus TCP devices (each its own connection to a
# pymodbus server) x REGISTERS holding registers polled every second, every register changing every
# second, published as Sparkplug B to Debian's mosquitto. Measures the gateway's CPU from /proc over
# SECONDS after a warm-up, the polls done and late (from its log at shutdown), and the DDATA messages
# mosquitto delivered to a subscriber.
# Usage: scripts/bench-edge.sh [devices] [registers] [seconds]   (default 100 100 60). Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
REGISTERS=${2:-100}
SECONDS_MEASURED=${3:-60}
BENCH_NAME=bench-edge
# shellcheck source=lib/edge-bench.sh
source scripts/lib/edge-bench.sh
has_python_modules pymodbus || pip_install 'pymodbus>=3.10,<4'

MP=$(port); SP=$(port)
mosquitto -p "$MP" 2>"$WORK/mosquitto.log" &
PIDS+=($!)
python3 scripts/lib/modbus_bench_server.py "$SP" 2>"$WORK/server.log" &
SERVER=$!; PIDS+=("$SERVER")
wait_port "$MP"; wait_port "$SP"

python3 - "$WORK/edge.yaml" "$MP" "$SP" "$DEVICES" "$REGISTERS" <<'PY'
import sys
path, broker, server, devices, registers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
lines = [f"broker: mqtt://127.0.0.1:{broker}", "sparkplug: {group: bench, node: gateway}", "modbus:"]
for device in range(devices):
    lines += [f"  - device: dev{device}", "    host: 127.0.0.1", f"    port: {server}", "    addressing: zero-based",
              "    every: 1s", "    tags:"]
    lines += [f"      - {{name: r{r}, table: holding-register, address: {r}}}" for r in range(registers)]
open(path, "w").write("\n".join(lines) + "\n")
PY

mosquitto_sub -p "$MP" -t 'spBv1.0/bench/DDATA/#' -F '%t' > "$WORK/ddata.txt" &
SUB=$!; PIDS+=("$SUB")
"$GEMBA" edge run --config "$WORK/edge.yaml" --log-format json --log-level notice 2>"$WORK/edge.log" &
EDGE=$!; PIDS+=("$EDGE")
sleep 10  # connections made, births sent, polls settled
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$EDGE/status")
before=$(cpu_ticks "$EDGE"); messages_before=$(wc -l < "$WORK/ddata.txt"); server_before=$(cpu_ticks "$SERVER")
sleep "$SECONDS_MEASURED"
after=$(cpu_ticks "$EDGE"); messages_after=$(wc -l < "$WORK/ddata.txt"); server_after=$(cpu_ticks "$SERVER")
kill -TERM "$EDGE"; wait "$EDGE" || true
python3 - "$WORK/edge.log" "$DEVICES" "$REGISTERS" "$SECONDS_MEASURED" "$before" "$after" "$messages_before" "$messages_after" \
    "$server_before" "$server_after" "$(getconf CLK_TCK)" "$RSS_KB" <<'PY'
import json, sys
log, devices, registers, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
before, after, m_before, m_after, s_before, s_after, hz, rss = map(int, sys.argv[5:13])
stopped = [json.loads(line) for line in open(log) if "Modbus device stopped" in line]
polls = sum(int(entry["modbus.polls"]) for entry in stopped)
late = sum(int(entry["modbus.late_polls"]) for entry in stopped)
errors = sum(int(entry["modbus.read_errors"]) for entry in stopped)
cpu = (after - before) / hz
print(json.dumps({
    "label": "edge-modbus", "devices": devices, "registers_per_device": registers, "seconds": seconds,
    "gateway_cpu_percent_of_one_core": round(100 * cpu / seconds, 1),
    "gateway_cpu_us_per_register_read": round(1e6 * cpu / (devices * registers * seconds), 2),
    "gateway_rss_mb": round(rss / 1024, 1),
    "ddata_per_second": round((m_after - m_before) / seconds, 1),
    "polls_total": polls, "late_polls_total": late, "read_errors_total": errors, "devices_reporting_at_stop": len(stopped),
    "server_cpu_percent_of_one_core": round(100 * (s_after - s_before) / hz / seconds, 1),
}))
PY
