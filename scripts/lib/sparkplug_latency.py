"""Subscribes to a broker's Sparkplug DDATA and measures, for every metric value, the time from its
timestamp (the source time the gateway publishes) to its arrival here. Decodes the protobuf by hand
(Payload.metrics = 2; Metric.timestamp = 3, is_historical = 5), so nothing is generated.
Runs until SIGTERM, then prints one JSON line: values, per-second counts, latency percentiles (ms).

usage: sparkplug_latency.py BROKER_PORT GROUP WARMUP_SECONDS
"""
import json
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt


def varint(data, i):
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def fields(data):
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = varint(data, i)
        elif kind == 1:
            value, i = data[i:i + 8], i + 8
        elif kind == 5:
            value, i = data[i:i + 4], i + 4
        elif kind == 2:
            length, i = varint(data, i)
            value, i = data[i:i + length], i + length
        else:
            raise ValueError(f"wire type {kind}")
        yield number, value


def main():
    port, group, warmup = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    latencies, lock = [], threading.Lock()
    started = time.time()
    state = {"values": 0, "historical": 0}

    def on_message(client, userdata, message):
        now = time.time() * 1000
        if now < (started + warmup) * 1000:
            return
        found = []
        historical = 0
        for number, value in fields(message.payload):
            if number != 2:
                continue
            metric = dict(fields(value))
            if metric.get(5):
                historical += 1
            elif 3 in metric:
                found.append(now - metric[3])
        with lock:
            latencies.extend(found)
            state["values"] += len(found)
            state["historical"] += historical

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(f"spBv1.0/{group}/DDATA/#", qos=0)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.loop_start()
    stop.wait()
    client.loop_stop()
    measured = time.time() - started - warmup
    with lock:
        ordered = sorted(latencies)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None
    print(json.dumps({"values": state["values"], "values_per_second": round(state["values"] / max(measured, 1e-9), 1),
                      "historical": state["historical"], "latency_ms_p50": pick(0.5), "latency_ms_p99": pick(0.99),
                      "latency_ms_max": round(ordered[-1], 1) if ordered else None}))


if __name__ == "__main__":
    main()
