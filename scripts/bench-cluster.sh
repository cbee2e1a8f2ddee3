#!/usr/bin/env bash
# Several Gemba nodes on one PostgreSQL database, taking one mosquitto's stream as an MQTT 5 share
# group (release build, this machine: the nodes share its cores). For 1, 2 and 3 nodes: a plant's
# paced load (1,000 machines sending 2 messages of 10 tags a second, `messages` messages, QoS 1 to
# mosquitto), until every sample is committed in PostgreSQL; then the CPU each node spent per
# sample it stored, and all nodes' CPU per sample together, beside mosquitto's and PostgreSQL's.
# Samples are stamped when sent (live); TIMESTAMPS=replay sends them a minute old (late data).
# This VM's speed moves ±15 % within minutes, so `rounds` repeats 1, 2 and 3 nodes in turn and the
# last line gives each node count's median and the ratio of the medians.
# Usage: scripts/bench-cluster.sh [messages] [rate] [rounds]   (defaults 60000, 2000 messages/s, 1).
# Prints one JSON line per run, then the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-60000}
RATE=${2:-2000}
ROUNDS=${3:-1}
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
declare -A costs  # node count -> gemba µs per sample of each round
for round in $(seq "$ROUNDS"); do
    for nodes in 1 2 3; do
        database="cluster${nodes}r$round"
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
        cost=$(awk -v c="$total_cpu" -v s="$SAMPLES" 'BEGIN { printf "%.2f", c * 1e6 / s }')
        costs[$nodes]+="$cost "
        printf '{"round":%d,"nodes":%d,"samples":%d,"rate_msgs_s":%d,"seconds_to_all_committed":%s,"gemba_cpu_s":%s,"gemba_us_per_sample":%s,"mosquitto_cpu_s":%s,"postgres_cpu_s":%s,"per_node":[%s]}\n' \
            "$round" "$nodes" "$SAMPLES" "$RATE" "$elapsed" "$total_cpu" "$cost" \
            "$(awk -v a="$broker_before" -v b="$(cpu_seconds "$broker")" 'BEGIN { printf "%.2f", b - a }')" \
            "$(awk -v a="$postgres_before" -v b="$(postgres_cpu)" 'BEGIN { printf "%.2f", b - a }')" "${per_node%,}"
        for pid in "${node_pids[@]}" "$broker"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m1=$(median <<< "${costs[1]}"); m2=$(median <<< "${costs[2]}"); m3=$(median <<< "${costs[3]}")
printf '{"summary":true,"rounds":%d,"median_us_per_sample":{"1":%s,"2":%s,"3":%s},"three_to_one":%s,"each_round":{"1":"%s","2":"%s","3":"%s"}}\n' \
    "$ROUNDS" "$m1" "$m2" "$m3" "$(awk -v a="$m3" -v b="$m1" 'BEGIN { printf "%.2f", a / b }')" "${costs[1]% }" "${costs[2]% }" "${costs[3]% }"
