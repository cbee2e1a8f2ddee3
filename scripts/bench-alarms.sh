#!/usr/bin/env bash
# Alarm benchmarks (release build), the alarms issue's targets:
#  1. the engine in process: 1,000 machines x 10 rules evaluated, memory per instance, sample -> state
#     change latency, one rule backtested over 30 days of a 1 Hz tag (`gemba bench alarms`);
#  2. MQTT ingest (QoS 1, committed) into `gemba serve` with no rules and with the same 10 rules on
#     1,000 machines, three runs each, in the same run: the cost rules add to ingest;
#  3. alarm -> signed webhook: 100 alarms/s raised over HTTP ingest for 30 s, received by a
#     standardwebhooks-verifying receiver; latency from the sample's timestamp to its arrival.
# Usage: scripts/bench-alarms.sh [messages]   (default 200000 per ingest run). Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-200000}
# GEMBA_BIN measures another build (an earlier commit's, for a before/after in one run).
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
python3 -c 'import standardwebhooks' 2>/dev/null || python3 -m pip install -q 'standardwebhooks>=1.0,<2'
WORK=$(mktemp -d /tmp/gemba-bench-alarms.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
start_gemba() {  # start_gemba NAME [extra flags]; sets MQ, HP, PID, KEY
    local name=$1; shift
    MQ=$(port); HP=$(port)
    KEY=$("$GEMBA" admin api-key create --data-dir "$WORK/$name" --name bench --role owner 2>/dev/null)
    "$GEMBA" serve --mqtt-allow-anonymous --api-rate 10000000 --mqtt-port "$MQ" --http-port "$HP" --data-dir "$WORK/$name" --log-level error "$@" \
        2>>"$WORK/gemba.log" >/dev/null &
    PID=$!; PIDS+=("$PID"); wait_port "$MQ"; wait_port "$HP"
}
api() { curl -sf -X "$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "http://127.0.0.1:$HP$2" ${3:+-d "$3"}; }
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }

echo "== 1. the engine in process"
"$GEMBA" bench alarms

echo "== 2. MQTT ingest, $MESSAGES messages x 10 tags per run, without and with 10 rules on 1,000 machines"
for mode in off on; do
    start_gemba "ingest-$mode"
    if [ "$mode" = on ]; then
        for i in $(seq 0 9); do
            api PUT "/api/v1/rules/r$i" "{\"name\": \"t$i high\", \"severity\": \"medium\", \"condition\": \"t$i > 99.5 for 2s clear < 95\"}" >/dev/null
        done
    fi
    for _ in 1 2 3; do
        "$GEMBA" bench ingest --port "$MQ" --broker-pid "$PID" --until acks --messages "$MESSAGES" --label "rules-$mode"
    done
    INSTANCES=$(api GET "/api/v1/alarms?state=all" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
    echo "{\"label\":\"rules-$mode\",\"rule_instances\":$INSTANCES,\"rss_bytes\":$(rss "$PID")}"
    stop "$PID"
done

echo "== 3. alarm -> signed webhook at 100 alarms/s for 30 s"
start_gemba webhook --notify-allow-private-networks
python3 - "$HP" "$KEY" <<'PY'
import datetime, http.client, http.server, json, sys, threading, time
from standardwebhooks.webhooks import Webhook
port, key = sys.argv[1], sys.argv[2]
received, bad = [], []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        arrived = time.time() * 1000
        try:
            payload = Webhook(secret).verify(body, dict(self.headers.items()))
            raised = datetime.datetime.fromisoformat(payload["data"]["time"].replace("Z", "+00:00")).timestamp() * 1000
            received.append(arrived - raised)
        except Exception as error:
            bad.append(str(error))
        self.send_response(204); self.end_headers()
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
connection = http.client.HTTPConnection("127.0.0.1", int(port))
def call(method, path, body):
    connection.request(method, path, json.dumps(body), {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = connection.getresponse(); data = response.read()
    assert response.status < 300, (path, response.status, data)
    return json.loads(data) if data else None
secret = call("PUT", "/api/v1/notification-channels/bench", {"name": "bench", "kind": "webhook", "url": f"http://127.0.0.1:{server.server_address[1]}/"})["secret"]
call("PUT", "/api/v1/notification-policies/bench", {"name": "bench", "channels": ["bench"], "events": ["activated"]})
call("PUT", "/api/v1/rules/hot", {"name": "hot", "severity": "high", "condition": "h > 50", "suppress_when": [],
                                  "chattering": {"enabled": False, "activations": 3, "window": "60s"}})
# 200 machines, one sample every 5 ms, each machine hot then cold in turn: 100 activations a second.
sent = {}
start = time.monotonic()
for tick in range(6000):
    machine, hot = tick % 200, (tick // 200) % 2 == 0
    now = int(time.time() * 1000)
    if hot: sent[(machine, tick // 400)] = now
    call("POST", "/api/v1/ingest", {"records": [{"machine": f"bench/line1/m{machine}", "ts": now, "values": {"h": 90 if hot else 10}}]})
    delay = start + (tick + 1) * 0.005 - time.monotonic()
    if delay > 0: time.sleep(delay)
deadline = time.monotonic() + 20
while len(received) < len(sent) and time.monotonic() < deadline: time.sleep(0.1)
# The transition time is the sample's timestamp: latency = arrival - sample time.
latencies = sorted(received)
def quantile(q): return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))], 1) if latencies else None
print(json.dumps({"label": "webhook", "alarms_raised": len(sent), "webhooks_received": len(received), "unverified": len(bad),
                  "seconds": round(time.monotonic() - start, 1), "sample_to_webhook_p50_ms": quantile(0.5),
                  "sample_to_webhook_p99_ms": quantile(0.99), "sample_to_webhook_max_ms": quantile(1.0)}))
PY
stop "$PID"
