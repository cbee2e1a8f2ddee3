#!/usr/bin/env bash
# What one message costs the broker in counted operations, under the fleet load of
# `bench-broker-fleet.sh` (2,000 connections × 2 msg/s, one historian on `fleet/#`): heap
# allocations, Swift objects allocated, retains, dynamic exclusivity checks and system calls, per
# message, counted by perf's uprobes and tracepoints over 8 s of the run. Counts do not move with
# the VM's speed as CPU time does (±15 % here), so a change of a few percent shows in them.
# Needs root (uprobes) and installs Debian's linux-perf when perf is missing.
# Usage: scripts/count-broker-fleet.sh [qos]   (default 1; GEMBA_BIN: another build to count)
set -euo pipefail
cd "$(dirname "$0")/.."
QOS=${1:-1}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
has_command perf || apt_install linux-perf
has_command cc || apt_install gcc
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
WORK=$(mktemp -d /tmp/gemba-count-fleet.XXXXXX)
PID=""
LIBC=$(ldd "$GEMBA" | awk '$1 == "libc.so.6" { print $3 }')
SWIFT_CORE=$(ldd "$GEMBA" | awk '$1 == "libswiftCore.so" { print $3 }')
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    wait 2>/dev/null || true
    perf probe -q -d 'probe_libc:malloc' -d 'probe_libswiftCore:*' 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
perf probe -q -x "$LIBC" malloc
perf probe -q -x "$SWIFT_CORE" swift_allocObject
perf probe -q -x "$SWIFT_CORE" swift_retain
perf probe -q -x "$SWIFT_CORE" swift_beginAccess
cc -O2 -o "$WORK/fleet_load" scripts/lib/fleet_load.c
# shellcheck source=lib/ports.sh
source scripts/lib/ports.sh
P=$(free_port)
"$GEMBA" serve --mqtt-allow-anonymous --mqtt-port "$P" --http-port "$(free_port)" --data-dir "$WORK/data" \
    --mqtt-max-queued 1000000 --log-level error 2>>"$WORK/gemba.log" >/dev/null &
PID=$!
wait_port "$P"
sleep 1
SECONDS_COUNTED=8
(sleep 5; perf stat -x, -o "$WORK/counts" -p "$PID" \
    -e probe_libc:malloc,probe_libswiftCore:swift_allocObject,probe_libswiftCore:swift_retain \
    -e probe_libswiftCore:swift_beginAccess,syscalls:sys_enter_read,syscalls:sys_enter_write \
    -e syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll -- sleep "$SECONDS_COUNTED") &
counter=$!
"$WORK/fleet_load" "$P" 2000 2 "$QOS" 15 "$PID" gemba >/dev/null
wait "$counter"
# The load is paced: 2,000 connections × 2 msg/s reach the broker over the counted seconds.
python3 - "$WORK/counts" "$((2000 * 2 * SECONDS_COUNTED))" "$QOS" <<'PY'
import json, sys
messages = int(sys.argv[2])
names = {"probe_libc:malloc": "malloc", "probe_libswiftCore:swift_allocObject": "swift_allocObject",
         "probe_libswiftCore:swift_retain": "swift_retain", "probe_libswiftCore:swift_beginAccess": "swift_beginAccess",
         "syscalls:sys_enter_read": "read", "syscalls:sys_enter_write": "write",
         "syscalls:sys_enter_sendto": "send", "syscalls:sys_enter_epoll_wait": "epoll_wait",
         "syscalls:sys_enter_poll": "poll"}
per_message = {}
for line in open(sys.argv[1]):
    fields = line.strip().split(",")
    if len(fields) > 2 and fields[2] in names and fields[0].isdigit():
        per_message[names[fields[2]]] = round(int(fields[0]) / messages, 2)
print(json.dumps({"case": "fleet-2000", "qos": int(sys.argv[3]), "messages": messages, "per_message": per_message}))
PY
