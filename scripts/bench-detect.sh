#!/usr/bin/env bash
# Anomaly detection benchmarks (release build), the predictive-maintenance issue's cost targets:
#  1. scoring nab-dev: every detector over NAB's 18 series, three profiles (`gemba detect score`);
#  2. MQTT ingest (QoS 1, committed) into `gemba serve` without and with 10 detectors (every univariate
#     family on two tags: knn t0-t1, ensemble t2-t3, seasonal t4-t5, context t6-t7, robust t8-t9) on
#     1,000 machines = 10,000 detector instances, three runs each
#     as fast as acknowledged, and two at 100,000 samples/s arriving (the target's load);
#  3. the forecast's coverage and the RUL model's cross-validation.
# Usage: scripts/bench-detect.sh [messages]   (default 200000 per ingest run, 10 tags each). Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-200000}
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
SHARED=../shared/testdata
WORK=$(mktemp -d /tmp/gemba-bench-detect.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }

echo "== 1. scoring nab-dev"
STARTED=$(date +%s.%N)
"$GEMBA" detect score "$SHARED/nab-dev" --json
python3 -c "import sys, time; print('{\"label\":\"nab-dev scoring\",\"wall_seconds\":%.2f}' % (time.time() - float(sys.argv[1])))" "$STARTED"

echo "== 2. MQTT ingest, $MESSAGES messages x 10 tags per run, without and with 10 detectors on 1,000 machines"
python3 - "$WORK/detectors.json" <<'PY'
import json, sys
kinds = ["knn", "knn", "ensemble", "ensemble", "seasonal", "seasonal", "context", "context", "robust", "robust"]
json.dump({"detectors": [{"id": f"d{i}", "kind": kind, "tag": f"t{i}"} for i, kind in enumerate(kinds)]}, open(sys.argv[1], "w"))
PY
for mode in off on; do
    MQ=$(port); HP=$(port)
    FLAGS=()
    if [ "$mode" = on ]; then FLAGS=(--detectors "$WORK/detectors.json"); fi
    "$GEMBA" serve --mqtt-allow-anonymous --mqtt-port "$MQ" --http-port "$HP" --data-dir "$WORK/$mode" --log-level error "${FLAGS[@]}" \
        2>>"$WORK/gemba.log" >/dev/null &
    PID=$!; PIDS+=("$PID"); wait_port "$MQ"; wait_port "$HP"
    for _ in 1 2 3; do
        "$GEMBA" bench ingest --port "$MQ" --broker-pid "$PID" --until acks --messages "$MESSAGES" --label "detectors-$mode"
    done
    # The target's load: 100,000 samples/s arriving (10,500 messages/s of 10 tags asked; the pacing delivers about 4 % less), the same for both runs.
    for _ in 1 2; do
        "$GEMBA" bench ingest --port "$MQ" --broker-pid "$PID" --until acks --messages "$MESSAGES" --rate 10500 --label "detectors-$mode-at-100k"
    done
    echo "{\"label\":\"detectors-$mode\",\"rss_bytes\":$(rss "$PID")}"
    kill "$PID"; wait "$PID" 2>/dev/null || true
    if [ "$mode" = on ]; then
        python3 - "$WORK/on/detectors/state.json" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
print(json.dumps({"label": "detector instances saved", "instances": len(state), "state_file_bytes": len(open(sys.argv[1]).read())}))
PY
    fi
done

echo "== 3. forecast coverage and remaining useful life"
"$GEMBA" detect forecast-check "$SHARED/nab-dev" --prefix realKnownCause/ --json | tail -1
"$GEMBA" detect forecast-check --demo --json | tail -1
"$GEMBA" detect train-rul "$SHARED/cmapss/train_FD001.txt" --json
