"""Watches a broker's Sparkplug DDATA through broker restarts (subscribing again on each connection)
and counts metric values replayed as historical (Metric.is_historical = 5) and live ones, with when
they arrived. Decodes the protobuf by hand. Runs until SIGTERM, then prints one JSON line: historical
values, the seconds from the first historical value after the last (re)connection to the last one,
and live values that arrived meanwhile.

usage: replay_watch.py BROKER_PORT GROUP
"""
import json
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt

from sparkplug_latency import fields


def main():
    port, group = int(sys.argv[1]), sys.argv[2]
    lock = threading.Lock()
    state = {"historical": 0, "first": None, "last": None, "live_during": 0, "connected_at": None}

    def on_connect(client, userdata, flags, reason, properties):
        client.subscribe(f"spBv1.0/{group}/DDATA/#", qos=0)
        with lock:
            state["connected_at"] = time.time()

    def on_message(client, userdata, message):
        now = time.time()
        historical = live = 0
        for number, value in fields(message.payload):
            if number == 2:
                if dict(fields(value)).get(5):
                    historical += 1
                else:
                    live += 1
        with lock:
            if historical:
                state["historical"] += historical
                state["first"] = state["first"] or now
                state["last"] = now
            elif state["first"] and state["last"] and now - state["last"] < 1:
                state["live_during"] += live

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(0.2, 1)
    client.connect_async("127.0.0.1", port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.loop_start()
    stop.wait()
    client.loop_stop()
    with lock:
        span = (state["last"] - state["first"]) if state["first"] else None
        print(json.dumps({"historical_values": state["historical"], "replay_seconds": round(span, 1) if span else None,
                          "live_values_during_replay": state["live_during"]}))


if __name__ == "__main__":
    main()
