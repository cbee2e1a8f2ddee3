#!/usr/bin/env bash
# MQTT broker benchmark: gemba's embedded broker and mosquitto, measured the same way in one run.
# Release build; each broker runs as its own process so its CPU time and memory are read from /proc.
# Usage: scripts/bench.sh [messages]   (default 300000). Prints JSON lines and a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-300000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
has_command mosquitto || apt_install mosquitto
export PATH="$PATH:/usr/sbin"
swift build -c release --product gemba >/dev/null
GEMBA=.build/release/gemba
WORK=$(mktemp -d /tmp/gemba-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }

start_gemba() {
    GP=$(port)
    "$GEMBA" serve --mqtt-allow-anonymous --mqtt-port "$GP" --http-port "$(port)" --data-dir "$WORK/data" --log-level error 2>>"$WORK/gemba.log" &
    GPID=$!; PIDS+=("$GPID"); wait_port "$GP"
}
start_mosquitto() {
    MP=$(port)
    # mosquitto 2.0.11 dropped QoS 1 messages to the subscriber with max_queued_messages 10000 even with
    # at most 500 in flight, so its queue is unbounded here; the generator fails the run on any loss.
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 256\n' "$MP" > "$WORK/mosquitto.conf"
    mosquitto -c "$WORK/mosquitto.conf" 2>>"$WORK/mosquitto.log" &
    MPID=$!; PIDS+=("$MPID"); wait_port "$MP"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

RESULTS="$WORK/results.jsonl"
for qos in 0 1; do
    for broker in mosquitto gemba; do
        if [ "$broker" = gemba ]; then start_gemba; P=$GP; B=$GPID; else start_mosquitto; P=$MP; B=$MPID; fi
        "$GEMBA" bench throughput --port "$P" --broker-pid "$B" --qos "$qos" --messages 20000 --label warmup >/dev/null
        for _ in 1 2 3; do  # three measured runs; the table reports medians
            "$GEMBA" bench throughput --port "$P" --broker-pid "$B" --qos "$qos" --messages "$MESSAGES" \
                --publishers 4 --label "$broker" | tee -a "$RESULTS"
        done
        stop "$B"
    done
done
for broker in mosquitto gemba; do
    if [ "$broker" = gemba ]; then start_gemba; P=$GP; B=$GPID; else start_mosquitto; P=$MP; B=$MPID; fi
    "$GEMBA" bench throughput --port "$P" --broker-pid "$B" --qos 0 --messages 100000 --rate 10000 \
        --label "$broker-latency-10k" | tee -a "$RESULTS"
    "$GEMBA" bench connections --port "$P" --broker-pid "$B" --count 10000 --label "$broker-idle" | tee -a "$RESULTS"
    stop "$B"
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = {}
for r in rows:
    if "messages_per_second" in r:
        runs.setdefault((r["label"], r["qos"]), []).append(r)
def median(group, key):
    return statistics.median(r.get(key, 0) for r in group)
print("\n| run | broker | runs | msg/s end-to-end | msg per broker CPU-s | broker CPU µs/msg | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|---|")
for (label, qos), group in runs.items():
    name = f"QoS {qos}" + (" @10k msg/s" if "latency" in label else "")
    print(f"| {name} | {label.split('-')[0]} | {len(group)} | {int(median(group, 'messages_per_second')):,} | "
          f"{int(median(group, 'messages_per_broker_cpu_second')):,} | "
          f"{median(group, 'broker_cpu_microseconds_per_message'):.2f} | "
          f"{median(group, 'latency_p50_ms'):.2f} | {median(group, 'latency_p99_ms'):.2f} |")
print("\n| broker | idle connections | RSS before MB | RSS after MB | bytes per connection |")
print("|---|---|---|---|---|")
for r in rows:
    if "connections" in r:
        print(f"| {r['label'].split('-')[0]} | {r['connections']:,} | {r.get('broker_rss_before_mb')} | "
              f"{r.get('broker_rss_after_mb')} | {r.get('bytes_per_connection'):,} |")
PY
