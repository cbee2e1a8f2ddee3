#!/usr/bin/env bash
# The broker under a plant's load, beside Debian's mosquitto in the same run (release build).
#
# Fleet: `scripts/lib/fleet_load.c` (one epoll loop in its own process) opens N connections that
# each publish a 64-byte message R times a second to their own topic, evenly spread, so each
# message reaches the broker alone; one historian subscribes to `fleet/#`. 3 s warm-up, 15 s
# measured; the broker's CPU time (also apart: user space and kernel) and RSS come from /proc, and
# the latency from send to the historian's read (p50, p99) from the generator. Cases: 2,000 × 2 msg/s at QoS 0 and 1,
# and 500 × 2 msg/s at QoS 0 (where fixed work per tick shows).
# Burst: two `mosquitto_pub -l` clients send 100,000 messages each as fast as they can to one
# `mosquitto_sub`, QoS 0 and 1; broker CPU over the whole transfer, per message sent and per message
# delivered (gemba drops QoS 0 messages for a subscriber more than 1 MiB behind; mosquitto queues them).
# The floor: `scripts/lib/relay_floor.c`, an epoll loop that only acknowledges and forwards (no
# session, queue or in-flight state), takes the QoS 1 burst too; its CPU is what the kernel alone
# costs per message for those packets, under any broker.
# Each case runs three times on a fresh broker; prints JSON lines, then medians and the ratio.
# Usage: scripts/bench-broker-fleet.sh [runs]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
has_command mosquitto || apt_install mosquitto
has_command mosquitto_pub || apt_install mosquitto-clients
has_command cc || apt_install gcc
export PATH="$PATH:/usr/sbin"
# GEMBA_BIN: another build to measure (an earlier commit's, side by side); the release build otherwise.
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
WORK=$(mktemp -d /tmp/gemba-bench-fleet.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cc -O2 -o "$WORK/fleet_load" scripts/lib/fleet_load.c
cc -O2 -o "$WORK/relay_floor" scripts/lib/relay_floor.c
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }  # user, kernel

start() {  # broker → PID, P
    P=$(port)
    if [ "$1" = gemba ]; then
        # Queues as deep as mosquitto's here (max_queued_messages 0): the burst subscriber falls behind.
        "$GEMBA" serve --mqtt-allow-anonymous --mqtt-port "$P" --http-port "$(port)" --data-dir "$WORK/data-$RANDOM" --mqtt-max-queued 1000000 \
            --log-level error 2>>"$WORK/gemba.log" >/dev/null &
    elif [ "$1" = floor ]; then
        "$WORK/relay_floor" "$P" &
    else
        printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 256\n' "$P" > "$WORK/mosquitto.conf"
        mosquitto -c "$WORK/mosquitto.conf" 2>>"$WORK/mosquitto.log" &
    fi
    PID=$!
    wait_port "$P"
    sleep 1  # let start-up work settle before measuring
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

burst() {  # broker qos → JSON line
    mosquitto_sub -p "$P" -q "$2" -t 'burst/#' -C 200000 -W 120 | wc -l > "$WORK/received" &
    local sub=$!
    sleep 0.5
    local before; read -r -a before <<< "$(cpu_ticks "$PID")"
    local started; started=$(date +%s.%N)
    # mosquitto_pub -l at QoS 1 is disconnected by mosquitto 2.0.11 ("out of memory"); --repeat is not.
    mosquitto_pub -p "$P" -q "$2" -t burst/a --repeat 100000 --repeat-delay 0 -m "$PAYLOAD" &
    local pub1=$!
    mosquitto_pub -p "$P" -q "$2" -t burst/b --repeat 100000 --repeat-delay 0 -m "$PAYLOAD"
    wait "$pub1"
    # The subscriber gets 2 s more to catch up (a QoS 0 message dropped for a slow consumer never comes).
    for _ in $(seq 40); do kill -0 "$sub" 2>/dev/null || break; sleep 0.05; done
    local ended; ended=$(date +%s.%N)
    local after; read -r -a after <<< "$(cpu_ticks "$PID")"
    pkill -f "mosquitto_sub -p $P" || true
    wait "$sub" || true
    python3 -c "import os; t=os.sysconf('SC_CLK_TCK'); user=(${after[0]}-${before[0]})/t; kernel=(${after[1]}-${before[1]})/t; cpu=user+kernel; print('{\"label\": \"$1\", \"case\": \"burst\", \"qos\": $2, \"sent\": 200000, \"received\": $(cat "$WORK/received"), \"seconds\": %.2f, \"broker_cpu_s\": %.3f, \"cpu_us_per_msg\": %.2f, \"cpu_us_per_delivered\": %.2f, \"user_us_per_msg\": %.2f, \"system_us_per_msg\": %.2f}' % ($ended-$started, cpu, cpu*1e6/200000, cpu*1e6/max(1, $(cat "$WORK/received")), user*1e6/200000, kernel*1e6/200000))"
}
PAYLOAD=$(printf 'v%.0s' $(seq 64))

RESULTS="$WORK/results.jsonl"
for _ in $(seq "$RUNS"); do
    for broker in mosquitto gemba; do
        for qos in 0 1; do
            start "$broker"
            "$WORK/fleet_load" "$P" 2000 2 "$qos" 15 "$PID" "$broker" | sed 's/}$/, "case": "fleet-2000"}/' | tee -a "$RESULTS"
            stop
        done
        start "$broker"
        "$WORK/fleet_load" "$P" 500 2 0 15 "$PID" "$broker" | sed 's/}$/, "case": "fleet-500"}/' | tee -a "$RESULTS"
        stop
        for qos in 0 1; do
            start "$broker"
            burst "$broker" "$qos" | tee -a "$RESULTS"
            stop
        done
    done
    start floor
    burst floor 1 | tee -a "$RESULTS"
    stop
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("\n| case | QoS | mosquitto µs/msg | gemba µs/msg | gemba ÷ mosquitto msgs per CPU-s | user space µs/msg, mosquitto / gemba | latency p50 / p99 ms, mosquitto / gemba | gemba RSS MB | sent − received, gemba (all runs) | floor µs/msg (user space) | burst: µs per message delivered, mosquitto / gemba |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for case in ("fleet-2000", "fleet-500", "burst"):
    for qos in (0, 1):
        pick = lambda broker: [r for r in rows if r["case"] == case and r["qos"] == qos and r["label"] == broker]
        mosquitto, gemba, floor = pick("mosquitto"), pick("gemba"), pick("floor")
        if not mosquitto or not gemba:
            continue
        m = statistics.median(r["cpu_us_per_msg"] for r in mosquitto)
        g = statistics.median(r["cpu_us_per_msg"] for r in gemba)
        spread = lambda rs: f"{min(r['cpu_us_per_msg'] for r in rs):.1f}–{max(r['cpu_us_per_msg'] for r in rs):.1f}"
        rss = statistics.median(r.get("broker_rss_mb", 0) for r in gemba)
        lost = sum(r["sent"] - r["received"] for r in gemba) if "sent" in gemba[0] else 0
        user = lambda rs: statistics.median(r["user_us_per_msg"] for r in rs)
        latency = lambda rs: (f"{statistics.median(r['latency_ms_p50'] for r in rs):.2f}, "
                              f"{statistics.median(r['latency_ms_p99'] for r in rs):.2f}") if "latency_ms_p50" in rs[0] else "–"
        least = (f"{statistics.median(r['cpu_us_per_msg'] for r in floor):.1f} ({spread(floor)}; {user(floor):.1f})"
                 if floor else "–")
        delivered = lambda rs: statistics.median(r["cpu_us_per_delivered"] for r in rs)
        per_delivered = f"{delivered(mosquitto):.1f} / {delivered(gemba):.1f}" if case == "burst" else "–"
        print(f"| {case} | {qos} | {m:.1f} ({spread(mosquitto)}) | {g:.1f} ({spread(gemba)}) | {m / g:.2f}× | "
              f"{user(mosquitto):.1f} / {user(gemba):.1f} | {latency(mosquitto)} / {latency(gemba)} | {rss:.0f} | {lost} | {least} | {per_delivered} |")
PY
