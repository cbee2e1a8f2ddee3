#!/usr/bin/env bash
# Store-and-forward benchmark (release build): DEVICES Modbus devices x REGISTERS registers, every one
# changing each second (a pymodbus server), polled by `gemba edge run --config` with a disk buffer and
# published to Debian's mosquitto. mosquitto is stopped for OUTAGE seconds, so DEVICES x REGISTERS x
# OUTAGE values are buffered, then started again: the gateway births and replays them as historical
# DDATA at its replay rate (50,000 values/s by default) while live polls go on. A mosquitto_sub
# started with the broker captures what arrives; afterwards the historical values are counted, with
# how long their replay took and the live values that arrived meanwhile. The gateway's CPU is read
# from /proc from the broker's restart to the end.
# Usage: scripts/bench-forward.sh [devices] [registers] [outage seconds]   (default 100 100 100: 1,000,000 values).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
REGISTERS=${2:-100}
OUTAGE=${3:-100}
BENCH_NAME=bench-forward
# shellcheck source=lib/edge-bench.sh
source scripts/lib/edge-bench.sh
has_python_modules pymodbus || pip_install 'pymodbus>=3.10,<4'

MP=$(port); SP=$(port)
mosquitto -p "$MP" 2>"$WORK/mosquitto.log" &
BROKER=$!
python3 scripts/lib/modbus_bench_server.py "$SP" 2>"$WORK/server.log" &
PIDS+=($!)
wait_port "$MP"; wait_port "$SP"
python3 - "$WORK/edge.yaml" "$MP" "$SP" "$DEVICES" "$REGISTERS" "$WORK/buffer" <<'PY'
import sys
path, broker, server, devices, registers, buffer = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
lines = [f"broker: mqtt://127.0.0.1:{broker}", "sparkplug: {group: bench, node: gateway}", f"buffer: {{directory: {buffer}, window: 2m}}", "modbus:"]
for device in range(devices):
    lines += [f"  - device: dev{device}", "    host: 127.0.0.1", f"    port: {server}", "    addressing: zero-based", "    every: 1s", "    tags:"]
    lines += [f"      - {{name: r{r}, table: holding-register, address: {r}}}" for r in range(registers)]
open(path, "w").write("\n".join(lines) + "\n")
PY
"$GEMBA" edge run --config "$WORK/edge.yaml" --log-format json --log-level notice 2>"$WORK/edge.log" &
EDGE=$!; PIDS+=("$EDGE")
sleep 10
kill "$BROKER"; wait "$BROKER" || true
sleep "$OUTAGE"
BUFFER_MB=$(du -sm "$WORK/buffer" | cut -f1)
before=$(cpu_ticks "$EDGE")
mosquitto -p "$MP" 2>>"$WORK/mosquitto.log" &
BROKER=$!; PIDS+=("$BROKER")
wait_port "$MP"
mosquitto_sub -p "$MP" -t 'spBv1.0/bench/DDATA/#' -F '%U %x' > "$WORK/capture.txt" &
SUB=$!; PIDS+=("$SUB")
# The replay (the window's live values of the last 2 minutes too) and a margin.
sleep $(( OUTAGE / 2 + 30 ))
after=$(cpu_ticks "$EDGE")
kill -TERM "$SUB"; wait "$SUB" || true
(cd scripts/lib && python3 replay_watch.py "$WORK/capture.txt") > "$WORK/watch.json"
python3 - "$WORK/watch.json" "$DEVICES" "$REGISTERS" "$OUTAGE" "$before" "$after" "$(getconf CLK_TCK)" "$BUFFER_MB" <<'PY'
import json, sys
watch = json.load(open(sys.argv[1]))
devices, registers, outage, before, after, hz, buffer_mb = map(int, sys.argv[2:9])
print(json.dumps({
    "label": "edge-forward", "devices": devices, "registers_per_device": registers, "outage_seconds": outage,
    "values_produced_during_outage": devices * registers * outage, "buffer_mb": buffer_mb,
    **watch,
    "historical_values_per_second": round(watch["historical_values"] / watch["replay_seconds"]) if watch["replay_seconds"] else None,
    "gateway_cpu_seconds_replaying": round((after - before) / hz, 1),
}))
PY
