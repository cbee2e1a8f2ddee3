"""A pysparkplug edge node with one device, driven by test_sparkplug.py.

Prints one JSON line per event on stdout: {"event": "published", "t": <ms>} once the births and
data went out, {"event": "dcmd", ...}/{"event": "ncmd", ...} for each command received. Reads
"stop" on stdin to disconnect gracefully (NDEATH); otherwise it runs until killed (its will
then delivers the NDEATH).
"""
import argparse
import datetime
import json
import sys
import threading

from pysparkplug import DataType, Device, EdgeNode, Metric, get_current_timestamp


def say(**event):
    print(json.dumps(event), flush=True)


def count_publishes(node):
    """A semaphore released after each publish of the node (pysparkplug 0.6.1 has no hook for it)."""
    published = threading.Semaphore(0)
    original = node._client.publish

    def publish(*args, **kwargs):
        original(*args, **kwargs)
        published.release()

    node._client.publish = publish
    return published


def on_command(kind):
    def callback(_node, message):
        metrics = [{"name": m.name, "datatype": int(m.datatype), "value": m.value} for m in message.payload.metrics]
        say(event=kind, topic=str(message.topic), metrics=metrics)
    return callback


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--device", required=True)
    args = parser.parse_args()

    t0 = get_current_timestamp()
    node = EdgeNode(args.group, args.node, [
        Metric(timestamp=t0, name="Line/Speed", datatype=DataType.DOUBLE, value=1.5),
        Metric(timestamp=t0, name="Count", datatype=DataType.UINT32, value=7),
        Metric(timestamp=t0, name="Mode", datatype=DataType.STRING, value="AUTO"),
    ], cmd_callback=on_command("ncmd"))
    started = datetime.datetime.fromtimestamp(1_700_000_000, tz=datetime.timezone.utc)
    device = Device(args.device, [
        Metric(timestamp=t0, name="Temperature", datatype=DataType.FLOAT, value=21.5),
        Metric(timestamp=t0, name="Pressure", datatype=DataType.INT16, value=-12),
        Metric(timestamp=t0, name="Running", datatype=DataType.BOOLEAN, value=True),
        Metric(timestamp=t0, name="Total", datatype=DataType.INT64, value=-5_000_000_000),
        Metric(timestamp=t0, name="Setpoint", datatype=DataType.DOUBLE, value=10.0),
        Metric(timestamp=t0, name="Samples", datatype=DataType.INT16_ARRAY, value=(1, -2, 3)),
        Metric(timestamp=t0, name="Started", datatype=DataType.DATETIME, value=started),
    ], cmd_callback=on_command("dcmd"))
    node.register(device)
    published = count_publishes(node)
    node.connect("127.0.0.1", port=args.port, blocking=False)
    for _ in range(2):  # NBIRTH and DBIRTH are out before any data
        if not published.acquire(timeout=10):
            say(event="error", reason="no births")
            return
    t1 = get_current_timestamp() + 1
    node.update([Metric(timestamp=t1, name="Count", datatype=DataType.UINT32, value=8)])
    node.update_device(args.device, [
        Metric(timestamp=t1, name="Temperature", datatype=DataType.FLOAT, value=22.25),
        Metric(timestamp=t1, name="Pressure", datatype=DataType.INT16, value=-13),
    ])
    say(event="published", t0=t0, t1=t1)
    for line in sys.stdin:
        if line.strip() == "stop":
            node.disconnect()
            node._client._client.loop_stop()  # joins paho's network thread: the NDEATH and DISCONNECT are sent
            say(event="disconnected")
            return
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
