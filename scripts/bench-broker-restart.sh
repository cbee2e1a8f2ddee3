#!/usr/bin/env bash
# Broker restart with a full state: 100,000 retained messages and 10,000 persistent sessions
# (each with one QoS 1 subscription), then `kill -9` and a new `gemba serve` on the same data
# directory. Measures the seconds from starting the new process until a client receives a retained
# message and a persistent session resumes, and the new process's RSS. mosquitto is measured the
# same way in the same run (persistence on, autosave every second, so its file holds the state
# before the kill). Release build. Usage: scripts/bench-broker-restart.sh [retained] [sessions]
set -euo pipefail
cd "$(dirname "$0")/.."
RETAINED=${1:-100000}
SESSIONS=${2:-10000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
has_command mosquitto || apt_install mosquitto
export PATH="$PATH:/usr/sbin"
swift build -c release --product gemba >/dev/null
GEMBA=.build/release/gemba
WORK=$(mktemp -d /tmp/gemba-bench-restart.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"
port() { free_port; }
rss_mb() { awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
DRIVER=scripts/lib/broker_restart.py
MP=$(port); HP=$(port)

start_gemba() {
    "$GEMBA" serve --mqtt-allow-anonymous --mqtt-port "$MP" --http-port "$HP" --data-dir "$WORK/gemba" --log-level info \
        2>>"$WORK/gemba.log" >/dev/null &
    PID=$!
}
start_mosquitto() {
    # mosquitto started as root drops to its own user, which must be able to write its state.
    mkdir -p "$WORK/mosquitto"; chmod 755 "$WORK"; chmod 777 "$WORK/mosquitto"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\nmax_queued_messages 0\n' \
        "$MP" "$WORK/mosquitto" > "$WORK/mosquitto.conf"
    mosquitto -c "$WORK/mosquitto.conf" 2>>"$WORK/mosquitto.log" &
    PID=$!
}
saved_changes() { curl -s "http://127.0.0.1:$HP/metrics" | awk '/^gemba_mqtt_persistence_saved_changes_total/ {print $2}'; }

for broker in mosquitto gemba; do
    "start_$broker"; wait_port "$MP"
    python3 "$DRIVER" fill "$MP" "$RETAINED" "$SESSIONS" >/dev/null
    if [ "$broker" = gemba ]; then
        last=-1; while [ "$(saved_changes)" != "$last" ]; do last=$(saved_changes); sleep 1; done
    else
        sleep 3  # two autosaves
    fi
    kill -9 "$PID"; wait "$PID" 2>/dev/null || true
    size=$(du -sm "$WORK/$broker" | cut -f1)
    "start_$broker"
    serving=$(python3 "$DRIVER" serving "$MP" "$SESSIONS")
    echo "{\"broker\": \"$broker\", \"retained\": $RETAINED, \"sessions\": $SESSIONS, \"state_mb\": $size, \"rss_mb\": $(rss_mb "$PID"), ${serving#\{}"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
grep "MQTT broker state restored" "$WORK/gemba.log" | tail -1
