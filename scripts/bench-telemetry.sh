#!/usr/bin/env bash
# Telemetry pipeline benchmarks (release build), the issue's four targets:
#  1. MQTT JSON -> durably committed in SQLite (QoS 1 PUBACK only after the commit), 1,000 machines x
#     10 tags, with mosquitto delivering the same messages to a plain subscriber measured in the same run;
#  2. publish -> WebSocket latency at 10,000 samples/s;
#  3. history of one 1 Hz tag, 24 h and 30 days, downsampled to 1,000 points (wrk, 1 connection);
#  4. 1,000 machines x 50 tags live at 1 Hz: RSS, and on-disk bytes per raw sample.
# Usage: scripts/bench-telemetry.sh [messages]   (default 300000 per ingest run). Prints JSON lines and tables.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-300000}
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
missing=()
has_command mosquitto || missing+=(mosquitto)
has_command wrk || missing+=(wrk)
apt_install "${missing[@]}"
export PATH="$PATH:/usr/sbin"
# GEMBA_BIN measures another build (an earlier commit's, for a before/after in one run).
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
WORK=$(mktemp -d /tmp/gemba-bench-telemetry.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
start_gemba() {  # start_gemba NAME [extra flags]; sets MQ, HP, PID
    local name=$1; shift
    MQ=$(port); HP=$(port)
    # Load generators connect anonymously; seed and live use an API key made with gemba admin.
    GEMBA_API_KEY=$("$GEMBA" admin api-key create --data-dir "$WORK/$name" --name bench --role engineer 2>/dev/null)
    export GEMBA_API_KEY
    "$GEMBA" serve --mqtt-allow-anonymous --api-rate 10000000 --mqtt-port "$MQ" --http-port "$HP" --data-dir "$WORK/$name" --log-level error "$@" \
        2>>"$WORK/gemba.log" >/dev/null &
    PID=$!; PIDS+=("$PID"); wait_port "$MQ"; wait_port "$HP"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
RESULTS="$WORK/results.jsonl"

echo "== 1. ingest: gemba (committed) and mosquitto (delivered), $MESSAGES messages x 10 tags per run"
MP=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$MP" > "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" 2>>"$WORK/mosquitto.log" &
MPID=$!; PIDS+=("$MPID"); wait_port "$MP"
for _ in 1 2 3; do
    "$GEMBA" bench ingest --port "$MP" --broker-pid "$MPID" --until delivered --messages "$MESSAGES" --label mosquitto | tee -a "$RESULTS"
done
stop "$MPID"
start_gemba ingest
for _ in 1 2 3 4 5; do  # five runs into one growing database: the later runs show the sustained rate
    "$GEMBA" bench ingest --port "$MQ" --broker-pid "$PID" --until acks --messages "$MESSAGES" --label gemba | tee -a "$RESULTS"
done
sleep 3  # let the memtable move into the sample table
STORED=$(curl -s "http://127.0.0.1:$HP/metrics" | awk '/^gemba_ingest_samples_stored_total\{source="mqtt"\}/ {print $2}')
DB=$(stat -c %s "$WORK/ingest/gemba.sqlite"); WAL=$(stat -c %s "$WORK/ingest/gemba.sqlite-wal" 2>/dev/null || echo 0)
echo "{\"label\":\"disk\",\"stored_samples\":$STORED,\"database_bytes\":$DB,\"wal_bytes\":$WAL,\"database_bytes_per_sample\":$(python3 -c "print(round($DB/$STORED,1))")}" | tee -a "$RESULTS"
stop "$PID"

echo "== 2. publish -> WebSocket latency at 10,000 samples/s"
start_gemba live
"$GEMBA" bench live --port "$MQ" --url "http://127.0.0.1:$HP" --broker-pid "$PID" --samples-per-second 10000 --seconds 30 | tee -a "$RESULTS"
stop "$PID"

echo "== 3. history of one 1 Hz tag (31 days seeded over HTTP)"
start_gemba history --ingest-max-age-days 40
"$GEMBA" bench seed --url "http://127.0.0.1:$HP" --days 31 | tee -a "$RESULTS"
sleep 3
NOW=$(($(date +%s) * 1000))
for days in 1 30; do
    URL="http://127.0.0.1:$HP/api/v1/history?series=bench/line1/history-1/temperature&from=$((NOW - days * 86400000))&to=$NOW&points=1000"
    wrk -t1 -c1 -d10s --latency -H "Authorization: Bearer $GEMBA_API_KEY" "$URL" > "$WORK/wrk.txt"
    python3 - "$days" "$WORK/wrk.txt" <<'PY' | tee -a "$RESULTS"
import json, re, sys
text = open(sys.argv[2]).read()
if "Non-2xx" in text:
    sys.exit("wrk saw non-2xx responses: " + text)
def ms(label):
    value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)
print(json.dumps({"label": f"history-{sys.argv[1]}d", "p50_ms": ms("50"), "p90_ms": ms("90"), "p99_ms": ms("99"),
                  "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}))
PY
done
stop "$PID"

echo "== 4. 1,000 machines x 50 tags at 1 Hz for 60 s: memory"
start_gemba rss
"$GEMBA" bench ingest --port "$MQ" --broker-pid "$PID" --machines 1000 --tags 50 --rate 1000 --messages 60000 --label rss-1000x50 \
    | tee -a "$RESULTS"
stop "$PID"

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def group(label): return [r for r in rows if r.get("label") == label]
mosq, gemba = group("mosquitto"), group("gemba")
print("\n| ingest run | gemba samples/s committed | server RSS MB |")
print("|---|---|---|")
for index, r in enumerate(gemba, 1):
    print(f"| {index} | {r['samples_per_second']:,} | {r.get('server_rss_mb')} |")
m = statistics.median(r["samples_per_second"] for r in mosq)
g = statistics.median(r["samples_per_second"] for r in gemba)
g_last = statistics.median(r["samples_per_second"] for r in gemba[2:])
print(f"\nmosquitto delivers the same messages at {int(m):,} samples/s (median of {len(mosq)}); gemba commits "
      f"{int(g):,} (median of {len(gemba)}), {int(g_last):,} over runs 3-5: ratio {g / m:.2f} ({g_last / m:.2f}).")
for r in rows:
    if r.get("label") in ("disk",) or str(r.get("label", "")).startswith(("history", "rss")) or "latency_p99_ms" in r:
        print(json.dumps(r))
PY
