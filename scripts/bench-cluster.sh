#!/usr/bin/env bash
# Several Gemba nodes on one PostgreSQL database, taking one mosquitto's stream as an MQTT 5 share
# group (release build, this machine: the nodes share its cores). For 1, 2 and 3 nodes: a plant's
# paced load (1,000 machines sending 2 messages of 10 tags a second, `messages` messages, QoS 1 to
# mosquitto), until every sample is committed in PostgreSQL; then the CPU each node spent per
# sample it stored, and all nodes' CPU per sample together, beside mosquitto's and PostgreSQL's.
# Samples are stamped when sent (live); TIMESTAMPS=replay sends them a minute old (late data).
# Usage: scripts/bench-cluster.sh [messages] [rate]   (defaults 60000 and 2000 messages/s).
# Prints one JSON line per node count.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-60000}
RATE=${2:-2000}
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=lib/ports.sh
source scripts/lib/ports.sh
has_command mosquitto || apt_install mosquitto
postgres_bench gemba-bench-cluster
# Samples a node stored, from its metrics.
stored_by() {
    curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^gemba_ingest_samples_stored_total/ { s += $2 } END { printf "%d", s }'
}
URL=$(start_postgres "$PGDIR" "$(free_port)" "bench-$$" \
    "-c shared_buffers=2GB -c max_wal_size=8GB -c checkpoint_timeout=15min -c wal_compression=lz4")
export GEMBA_ADMIN_PASSWORD="bench-$$-password"
SAMPLES=$((MESSAGES * 10))
for nodes in 1 2 3; do
    database="cluster$nodes"
    psql "${URL%%\?*}" -qc "CREATE DATABASE $database"
    storage="${URL/\/postgres\?//$database?}"
    broker_port=$(free_port)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\n' "$broker_port" \
        > "$WORK/mosquitto-$nodes.conf"
    mosquitto -c "$WORK/mosquitto-$nodes.conf" >"$WORK/mosquitto-$nodes.log" 2>&1 &
    broker=$!; PIDS+=("$broker"); wait_port "$broker_port" 30
    node_pids=(); http_ports=()
    for k in $(seq "$nodes"); do
        mqtt_port=$(free_port); http_port=$(free_port)
        "$GEMBA" serve --storage "$storage" --data-dir "$WORK/n$nodes-$k" --mqtt-port "$mqtt_port" --http-port "$http_port" \
            --mqtt-upstream "mqtt://127.0.0.1:$broker_port" --mqtt-upstream-group bench --log-level error \
            2>>"$WORK/serve.log" >/dev/null &
        node_pids+=($!); PIDS+=($!); http_ports+=("$http_port")
        wait_port "$http_port" 60
    done
    sleep 2  # every node's share subscription in place before the load starts
    read -r -a before <<< "$(for pid in "${node_pids[@]}"; do cpu_seconds "$pid"; printf ' '; done)"
    broker_before=$(cpu_seconds "$broker"); postgres_before=$(postgres_cpu)
    started=$(date +%s.%N)
    "$GEMBA" bench ingest --port "$broker_port" --until acks --messages "$MESSAGES" --rate "$RATE" \
        --timestamps "${TIMESTAMPS:-live}" --label "cluster-$nodes" >/dev/null
    until [ "$(psql "${storage%%\?*}" -Atc "SELECT count(*) FROM sample")" -ge "$SAMPLES" ]; do sleep 0.2; done
    elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    per_node=""; total_cpu=0
    for i in "${!node_pids[@]}"; do
        cpu=$(awk -v a="${before[$i]}" -v b="$(cpu_seconds "${node_pids[$i]}")" 'BEGIN { printf "%.2f", b - a }')
        stored=$(stored_by "${http_ports[$i]}")
        total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { printf "%.2f", a + b }')
        per_node+="{\"cpu_s\":$cpu,\"stored\":$stored,\"us_per_sample\":$(awk -v c="$cpu" -v s="$stored" 'BEGIN { printf "%.1f", s ? c * 1e6 / s : 0 }')},"
    done
    printf '{"nodes":%d,"samples":%d,"rate_msgs_s":%d,"seconds_to_all_committed":%s,"gemba_cpu_s":%s,"gemba_us_per_sample":%s,"mosquitto_cpu_s":%s,"postgres_cpu_s":%s,"per_node":[%s]}\n' \
        "$nodes" "$SAMPLES" "$RATE" "$elapsed" "$total_cpu" "$(awk -v c="$total_cpu" -v s="$SAMPLES" 'BEGIN { printf "%.1f", c * 1e6 / s }')" \
        "$(awk -v a="$broker_before" -v b="$(cpu_seconds "$broker")" 'BEGIN { printf "%.2f", b - a }')" \
        "$(awk -v a="$postgres_before" -v b="$(postgres_cpu)" 'BEGIN { printf "%.2f", b - a }')" "${per_node%,}"
    for pid in "${node_pids[@]}" "$broker"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
done
