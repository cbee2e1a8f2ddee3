"""An OPC UA server on open62541 (PyPI o6) for scripts/bench-opcua.sh: ITEMS Double variables
ns=1;s=v0 … under the folder ns=1;s=Bench, every one written once a second (one batched write), so
each changes once a second. Prints 'ready' once the address space is built.

usage: opcua_bench_server.py PORT ITEMS
"""
import sys
import time

import o6


def main():
    port, items = int(sys.argv[1]), int(sys.argv[2])
    server = o6.Server(port=port)
    with server:
        folder = server.addObject("Bench", server.objectsNode, nodeId=o6.NodeId("ns=1;s=Bench"))
        nodes = [server.addVariable(f"v{i}", folder, 0.0, nodeId=o6.NodeId(f"ns=1;s=v{i}"), writable=False) for i in range(items)]
        print("ready", flush=True)
        tick = 0
        next_write = time.monotonic()
        while True:
            next_write += 1.0
            time.sleep(max(0.0, next_write - time.monotonic()))
            tick += 1
            started = time.monotonic()
            server.write(nodes, [float(tick)] * items)
            print(f"write {tick} {time.monotonic() - started:.3f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
