"""Ingest as a plant's scripts send it while a backup runs: one record per HTTP request on a
keep-alive connection, as fast as answers come, each request's time and latency written down.

    python3 backup_load.py run   PORT KEY OUT STOPFILE   # until STOPFILE exists; lines "<start> <latency>"
    python3 backup_load.py stats OUT FROM TO             # JSON: requests/s and latency (ms) in [FROM, TO)
"""
import http.client
import json
import os
import sys
import time


def run(port, key, out, stop):
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    n = 0
    with open(out, "w") as log:
        while not os.path.exists(stop):
            n += 1
            body = json.dumps([{"machine": "bench/line1/live", "values": {"n": n}}])
            started = time.time()
            connection.request("POST", "/api/v1/ingest", body, headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            log.write(f"{started:.6f} {time.time() - started:.6f}\n")


def stats(out, start, end):
    latencies = sorted(float(latency) * 1000 for at, latency in (line.split() for line in open(out))
                       if float(start) <= float(at) < float(end))
    def quantile(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)
    print(json.dumps({"requests_per_s": round(len(latencies) / (float(end) - float(start))),
                      "p50_ms": quantile(0.5), "p99_ms": quantile(0.99), "max_ms": round(latencies[-1], 2)}))


if __name__ == "__main__":
    {"run": run, "stats": stats}[sys.argv[1]](*sys.argv[2:])
