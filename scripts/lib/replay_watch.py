"""Reads a capture of a broker's Sparkplug DDATA (mosquitto_sub -F '%U %x': arrival time and payload
in hex, one message a line) and counts the metric values replayed as historical (Metric.is_historical
= 5) and the live ones, with when they arrived. Decodes the protobuf by hand, after the run, so the
measurement costs the machine nothing while it runs. Prints one JSON line: historical values, the
seconds from the first historical value to the last, and the live values that arrived meanwhile.

usage: replay_watch.py CAPTURE_FILE
"""
import json
import sys

from sparkplug_latency import fields


def main():
    messages = []
    for line in open(sys.argv[1]):
        arrival, _, payload = line.strip().partition(" ")
        historical = live = 0
        for number, value in fields(bytes.fromhex(payload)):
            if number == 2:
                if dict(fields(value)).get(5):
                    historical += 1
                else:
                    live += 1
        messages.append((float(arrival), historical, live))
    replayed = [at for at, historical, _ in messages if historical]
    first, last = (min(replayed), max(replayed)) if replayed else (None, None)
    print(json.dumps({
        "historical_values": sum(historical for _, historical, _ in messages),
        "replay_seconds": round(last - first, 1) if replayed else None,
        "live_values_during_replay": sum(live for at, _, live in messages if replayed and first <= at <= last),
    }))


if __name__ == "__main__":
    main()
