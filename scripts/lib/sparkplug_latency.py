"""Measures, for every metric value of a broker's Sparkplug DDATA, the time from its
timestamp (the source time the gateway publishes) to its arrival here, and whether every change
arrived: each metric's double values (the server writes a counter) must run without a gap. Decodes
the protobuf by hand (Payload.metrics = 2; Metric.alias = 2, timestamp = 3, is_historical = 5,
double_value = 13), so nothing is generated. Runs until SIGTERM, then prints one JSON line:
values, values a second, values missing between each metric's first and last, latency percentiles (ms).
The messages are captured by mosquitto_sub (`-F '%U %x'`: arrival time and payload in hex) into a
file during the run and read afterwards, so decoding costs the machine nothing while it is measured.

usage: sparkplug_latency.py CAPTURE_FILE FROM_UNIX_SECONDS TO_UNIX_SECONDS
"""
import json
import struct
import sys



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
    path, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    latencies, seen = [], {}  # alias -> set of counter values
    values = historical = 0
    for line in open(path):
        arrival, _, payload = line.strip().partition(" ")
        now = float(arrival)
        if not start <= now <= end:
            continue
        for number, value in fields(bytes.fromhex(payload)):
            if number != 2:
                continue
            metric = dict(fields(value))
            if metric.get(5):
                historical += 1
            elif 3 in metric:
                values += 1
                latencies.append(now * 1000 - metric[3])
                if 13 in metric:
                    seen.setdefault(metric.get(2), set()).add(struct.unpack("<d", metric[13])[0])
    ordered = sorted(latencies)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None
    missing = sum(int(max(counts) - min(counts) + 1) - len(counts) for counts in seen.values())
    print(json.dumps({"values": values, "metrics": len(seen), "missing": missing,
                      "values_per_second": round(values / max(end - start, 1e-9), 1),
                      "historical": historical, "latency_ms_p50": pick(0.5), "latency_ms_p99": pick(0.99),
                      "latency_ms_max": round(ordered[-1], 1) if ordered else None}))


if __name__ == "__main__":
    main()
