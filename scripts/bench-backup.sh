#!/usr/bin/env bash
# Backup and restore of a plant's data directory while ingest runs. Seeds TAGS tags with a 1 Hz
# history over DAYS days (through the HTTP API), then, with one-record HTTP requests arriving as
# fast as they are answered (scripts/lib/backup_load.py): ingest alone, during `gemba backup`, and
# during sqlite3's own `.backup` and `VACUUM INTO` of the same database (the references, from
# Debian's sqlite3 CLI: the same backup API in steps of 100 pages, and a one-statement copy), each with the requests/s and latency it saw. Then a backup leaving
# raw samples older than 7 days out, `gemba restore --check`, `gemba restore`, and the restored
# server's start until ready. Release build. Usage: scripts/bench-backup.sh [days] [tags]
set -euo pipefail
cd "$(dirname "$0")/.."
DAYS=${1:-30}
TAGS=${2:-4}
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
has_command sqlite3 || apt_install sqlite3
has_command curl || apt_install curl
swift build -c release --product gemba >/dev/null
GEMBA=.build/release/gemba
WORK=$(mktemp -d /tmp/gemba-bench-backup.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
ready() { for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/ready" >/dev/null && return; sleep 0.05; done; exit 1; }
now() { date +%s.%N; }
span() { awk -v from="$1" -v to="$2" 'BEGIN { printf "%.3f", to - from }'; }   # seconds between two now()s
mb() { du -sm "$1" | cut -f1; }
LOAD=scripts/lib/backup_load.py
export GEMBA_ADMIN_PASSWORD=bench-Secret-123456
HP=$(port)
KEY=$("$GEMBA" admin api-key create --data-dir "$WORK/data" --name bench --role owner 2>/dev/null)
"$GEMBA" serve --data-dir "$WORK/data" --http-port "$HP" --mqtt-port "$(port)" --api-rate 10000000 --ingest-max-age-days 3650 2>"$WORK/serve.log" >/dev/null &
PID=$!
ready "$HP"
started=$(now)
for tag in $(seq "$TAGS"); do
    "$GEMBA" bench seed --url "http://127.0.0.1:$HP" --api-key "$KEY" --days "$DAYS" --machine "bench/line1/m$tag" >/dev/null
done
echo "{\"seeded_samples\": $((DAYS * 86400 * TAGS)), \"seconds\": $(span "$started" "$(now)")}"
sleep 3  # the last commits move out of the inbox (2 s)

# One window of load around a command (stopped after LIMIT s: sqlite3's stepped .backup starts
# over whenever another connection writes, so under steady ingest it may never finish); prints
# whether it finished, its seconds and what ingest saw meanwhile.
LIMIT=120
under_load() {
    local name=$1; shift
    rm -f "$WORK/stop"
    python3 "$LOAD" run "$HP" "$KEY" "$WORK/$name.load" "$WORK/stop" &
    local loader=$!
    sleep 2
    local from; from=$(now)
    local finished=true
    timeout "$LIMIT" "$@" >"$WORK/$name.out" || finished=false
    local to; to=$(now)
    touch "$WORK/stop"; wait "$loader"
    echo "{\"case\": \"$name\", \"finished\": $finished, \"seconds\": $(span "$from" "$to"), \"ingest\": $(python3 "$LOAD" stats "$WORK/$name.load" "$from" "$to")}"
}
echo "{\"data_dir_mb\": $(mb "$WORK/data")}"
under_load "ingest alone" sleep 10
under_load "gemba backup" "$GEMBA" backup --data-dir "$WORK/data" --to "$WORK/full.tar"
under_load "sqlite3 .backup (reference)" sqlite3 "$WORK/data/gemba.sqlite" ".backup $WORK/reference.sqlite"
under_load "sqlite3 VACUUM INTO (reference)" sqlite3 "$WORK/data/gemba.sqlite" "VACUUM INTO '$WORK/vacuumed.sqlite'"
under_load "gemba backup --raw-days 7" "$GEMBA" backup --data-dir "$WORK/data" --to "$WORK/week.tar" --raw-days 7
echo "{\"archive_mb\": $(mb "$WORK/full.tar"), \"vacuum_into_mb\": $(mb "$WORK/vacuumed.sqlite"), \"raw_days_7_archive_mb\": $(mb "$WORK/week.tar")}"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

from=$(now); "$GEMBA" restore --from "$WORK/full.tar" --check >/dev/null; check=$(span "$from" "$(now)")
from=$(now); "$GEMBA" restore --from "$WORK/full.tar" --data-dir "$WORK/restored" >/dev/null; restore=$(span "$from" "$(now)")
from=$(now)
"$GEMBA" serve --data-dir "$WORK/restored" --http-port "$HP" --mqtt-port "$(port)" 2>"$WORK/restored.log" >/dev/null &
PID=$!
ready "$HP"
echo "{\"restore_check_s\": $check, \"restore_s\": $restore, \"restored_serve_ready_s\": $(span "$from" "$(now)")}"
cat "$WORK/gemba backup.out"
