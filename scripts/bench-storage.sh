#!/usr/bin/env bash
# The storage backends side by side (release build, in process, same run): SQLite in a temporary
# directory and PostgreSQL 15 started on loopback by this script. Each run commits `samples`
# samples of 1,000 machines x 10 tags reporting once a second, 10,000 samples per commit, one
# commit after the other as the ingest pipeline makes them; then the history of a 1 Hz tag over
# 24 h as 720 buckets, and the database bytes per sample. See `gemba bench storage --help`.
# Then the whole path, MQTT JSON -> committed, through `gemba serve` on each backend: 1,000
# machines x 10 tags, QoS 1, a message complete when its PUBACK (sent after the commit) arrives
# (`gemba bench ingest`, as in scripts/bench-telemetry.sh), with PostgreSQL's own CPU time: live
# samples (stamped when sent), then one run of replayed ones (a minute old: late data), and for
# PostgreSQL the CPU its rollup fold spends on them a minute later.
# Last, a plant's load on each: 1,000 machines sending 2 messages of 10 tags a second (20,000
# samples/s, paced, so commits are small), 30 s, with the CPU each sample costs gemba and PostgreSQL.
# Usage: scripts/bench-storage.sh [samples] [runs] [messages]   (defaults 3000000, 3 and 300000).
# Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-3000000}
RUNS=${2:-3}
MESSAGES=${3:-300000}
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=lib/ports.sh
source scripts/lib/ports.sh
postgres_bench gemba-bench-storage
PORT=$(free_port)
# A server set up as for an ingest workload: a buffer cache that holds the recent indexes, and
# checkpoints far enough apart that full-page images do not dominate the WAL. fsync stays on.
URL=$(start_postgres "$PGDIR" "$PORT" "bench-$$" \
    "-c shared_buffers=2GB -c max_wal_size=8GB -c checkpoint_timeout=15min -c wal_compression=lz4")
psql "${URL%%\?*}" -qc "SELECT version()" -At
for run in $(seq "$RUNS"); do
    psql "${URL%%\?*}" -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
    "$GEMBA" bench storage --storage "${URL/\/postgres\?//bench?}" --samples "$SAMPLES"
    "$GEMBA" bench storage --samples "$SAMPLES"
done

echo "== MQTT JSON -> committed through gemba serve, $MESSAGES messages x 10 tags per run"
export GEMBA_ADMIN_PASSWORD="bench-$$-password"
# postgres_cpu_since BEFORE: the server's CPU seconds since BEFORE (a postgres_cpu reading).
postgres_cpu_since() { awk -v a="$1" -v b="$(postgres_cpu)" 'BEGIN { printf "%.2f", b - a }'; }
# ingest LABEL [OPTIONS]: one `gemba bench ingest` run into the node, its JSON line with PostgreSQL's CPU added.
ingest() {
    local label=$1 before result; shift
    before=$(postgres_cpu)
    result=$("$GEMBA" bench ingest --port "$MQ" --broker-pid "$pid" --until acks --label "$label" "$@")
    echo "${result%\}},\"postgres_cpu_s\":$(postgres_cpu_since "$before")}"
}
for backend in sqlite postgres; do
    storage=sqlite
    if [ "$backend" = postgres ]; then
        psql "${URL%%\?*}" -qc "DROP DATABASE IF EXISTS serve" -c "CREATE DATABASE serve"
        storage="${URL/\/postgres\?//serve?}"
    fi
    MQ=$(free_port); HP=$(free_port)
    "$GEMBA" serve --mqtt-allow-anonymous --api-rate 10000000 --mqtt-port "$MQ" --http-port "$HP" --data-dir "$WORK/$backend" \
        --storage "$storage" --log-level error 2>>"$WORK/serve.log" >/dev/null &
    pid=$!; PIDS+=("$pid"); wait_port "$MQ" 30; wait_port "$HP" 30
    for _ in $(seq "$RUNS"); do ingest "gemba-$backend" --messages "$MESSAGES"; done
    # The same as a store-and-forward replay: samples a minute old and falling behind (late data).
    ingest "gemba-$backend-replay" --messages "$MESSAGES" --timestamps replay
    # A plant's load: paced, 2,000 messages/s for 30 s.
    ingest "gemba-$backend-plant" --messages 60000 --rate 2000
    if [ "$backend" = postgres ]; then
        # Live samples reach the rollups a minute later (the grace for late data), by the fold job:
        # its CPU over the 70 s after the last sample is the rest of what they cost.
        before=$(postgres_cpu)
        sleep 70
        echo "{\"label\":\"gemba-postgres-rollup-fold-after\",\"seconds\":70,\"postgres_cpu_s\":$(postgres_cpu_since "$before")}"
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
