#!/usr/bin/env bash
# What the alarm rules' sample feed costs ingest on PostgreSQL (release build): MQTT JSON ->
# committed through `gemba serve --storage postgres://…`, 1,000 machines x 10 tags (t0..t9), QoS 1,
# as in scripts/bench-storage.sh, with no rule, a rule reading one tag of the ten (each commit
# feeds a tenth of its samples) and rules reading all ten (everything fed), each on a new
# database; then the paced plant load (2,000 messages/s, 30 s) with one tag read. The rules never
# fire (t < 100 always). Each line carries gemba's and PostgreSQL's CPU seconds.
# Usage: scripts/bench-alarm-feed.sh [messages] [runs]   (defaults 200000 and 2). Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-200000}
RUNS=${2:-2}
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=lib/ports.sh
source scripts/lib/ports.sh
postgres_bench gemba-bench-alarm-feed
PORT=$(free_port)
URL=$(start_postgres "$PGDIR" "$PORT" "bench-$$" \
    "-c shared_buffers=2GB -c max_wal_size=8GB -c checkpoint_timeout=15min -c wal_compression=lz4")
export GEMBA_ADMIN_PASSWORD="bench-$$-password"
# JSON fields: CPU seconds of gemba and PostgreSQL since the given readings.
cpu_fields() { awk -v g="$1" -v G="$(cpu_seconds "$3")" -v p="$2" -v P="$(postgres_cpu)" 'BEGIN { printf "\"gemba_cpu_s\":%.2f,\"postgres_cpu_s\":%.2f", G - g, P - p }'; }
for read in 0 1 10; do
    database="feed$read"
    psql "${URL%%\?*}" -qc "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
    MQ=$(free_port); HP=$(free_port)
    "$GEMBA" serve --mqtt-allow-anonymous --api-rate 10000000 --mqtt-port "$MQ" --http-port "$HP" --data-dir "$WORK/$database" \
        --storage "${URL/\/postgres\?//$database?}" --log-level error 2>>"$WORK/serve.log" >/dev/null &
    pid=$!; PIDS+=("$pid"); wait_port "$MQ" 30; wait_port "$HP" 30
    if [ "$read" -gt 0 ]; then
        token=$(curl -sf "http://127.0.0.1:$HP/api/v1/auth/login" -H 'Content-Type: application/json' \
            -d "{\"email\":\"admin@gemba.local\",\"password\":\"$GEMBA_ADMIN_PASSWORD\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
        for tag in $(seq 0 $((read - 1))); do
            curl -sf -X PUT "http://127.0.0.1:$HP/api/v1/rules/t$tag-high" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
                -d "{\"name\":\"t$tag high\",\"severity\":\"low\",\"condition\":\"t$tag > 1000\"}" >/dev/null
        done
    fi
    for _ in $(seq "$RUNS"); do
        g=$(cpu_seconds "$pid"); p=$(postgres_cpu)
        result=$("$GEMBA" bench ingest --port "$MQ" --broker-pid "$pid" --until acks --messages "$MESSAGES" --label "postgres-$read-of-10-tags-fed")
        echo "${result%\}},$(cpu_fields "$g" "$p" "$pid")}"
    done
    if [ "$read" = 1 ]; then
        g=$(cpu_seconds "$pid"); p=$(postgres_cpu)
        result=$("$GEMBA" bench ingest --port "$MQ" --broker-pid "$pid" --until acks --messages 60000 --rate 2000 --label "postgres-plant-1-of-10-tags-fed")
        echo "${result%\}},$(cpu_fields "$g" "$p" "$pid")}"
    fi
    echo "{\"fed_rows_left\":$(psql "${URL/\/postgres\?//$database?}" -At -c 'SELECT count(*) FROM sample_feed')}"
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
