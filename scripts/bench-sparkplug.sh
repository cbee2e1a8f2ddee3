#!/usr/bin/env bash
# Sparkplug B decode + ingest against the JSON path, in the same run (release build).
#
# `gemba bench ingest` publishes 1,000 machines x 10 metrics at QoS 1 (a PUBACK comes only after
# the commit), as JSON records on gemba/v1/… or as Sparkplug NDATA with aliases on spBv1.0/… (one
# edge node per machine, births first and untimed). Each run gets a fresh `gemba serve` and data
# directory, so neither format inherits the other's database; the formats alternate, five runs
# each. Prints every run as a JSON line, then the medians: metrics/s and server CPU µs per metric.
# Usage: scripts/bench-sparkplug.sh [messages]   (default 200000 per run)
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-200000}
swift build -c release --product gemba >/dev/null
GEMBA=.build/release/gemba
WORK=$(mktemp -d /tmp/gemba-bench-sparkplug.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
RESULTS="$WORK/results.jsonl"
for round in 1 2 3 4 5; do
    for format in json sparkplug; do
        MQ=$(port); HP=$(port)
        "$GEMBA" serve --mqtt-allow-anonymous --mqtt-port "$MQ" --http-port "$HP" --data-dir "$WORK/data-$round-$format" \
            --log-level warning 2>>"$WORK/gemba.log" >/dev/null &
        PID=$!
        for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MQ") 2>/dev/null && break; sleep 0.1; done
        "$GEMBA" bench ingest --port "$MQ" --broker-pid "$PID" --until acks --messages "$MESSAGES" --format "$format" \
            --label "gemba-$format" | tee -a "$RESULTS"
        kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    done
done
if grep -qi "sparkplug\|rejected" "$WORK/gemba.log"; then
    echo "the server reported problems:"; cat "$WORK/gemba.log"; exit 1
fi
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
medians = {}
for fmt in ("json", "sparkplug"):
    rows = [r for r in runs if r["format"] == fmt]
    rate = statistics.median(r["samples_per_second"] for r in rows)
    cpu = statistics.median(r["server_cpu_seconds"] / r["samples"] * 1e6 for r in rows)
    medians[fmt] = (rate, cpu)
    print(f"{fmt:10s} median {rate:>9,.0f} metrics/s   server CPU {cpu:.2f} us/metric   runs: "
          + ", ".join(f"{r['samples_per_second']:,}" for r in rows))
print(f"sparkplug/json: rate x{medians['sparkplug'][0] / medians['json'][0]:.2f}, "
      f"CPU per metric x{medians['sparkplug'][1] / medians['json'][1]:.2f}")
PY
