"""An mqtt-spb-wrapper edge node with one device, driven by test_sparkplug.py.

Births declare `DATA/<name>` metrics and data uses the plain names, as this library does. Prints
{"event": "published", ...} once births and data went out; reads "stop" on stdin to disconnect
gracefully (its DDEATH without seq, then NDEATH).
"""
import argparse
import json
import sys
import time

from mqtt_spb_wrapper import MqttSpbEntityDevice, MqttSpbEntityEdgeNode, MetricDataType


def say(**event):
    print(json.dumps(event), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--device", required=True)
    args = parser.parse_args()

    node = MqttSpbEntityEdgeNode(args.group, args.node)
    device = MqttSpbEntityDevice(args.group, args.node, args.device)
    t0 = int(time.time() * 1000)
    node.data.set_value("Temperature", 21.5, timestamp=t0)
    node.data.set_value("Batch", "B-1042", timestamp=t0)
    device.data.set_value("Pressure", 1.25, timestamp=t0)
    device.data.set_value("Cycles", 41, timestamp=t0, spb_data_type=MetricDataType.Int32)
    if not node.connect("127.0.0.1", args.port) or not device.connect("127.0.0.1", args.port):
        say(event="error", reason="cannot connect")
        return  # connect() returns once the broker accepted the connection
    node.publish_birth()
    device.publish_birth()
    t1 = t0 + 1000
    node.data.set_value("Temperature", 22.0, timestamp=t1)
    node.publish_data()
    device.data.set_value("Pressure", 1.5, timestamp=t1)
    device.data.set_value("Cycles", 42, timestamp=t1)
    device.publish_data()
    say(event="published", t0=t0, t1=t1)
    for line in sys.stdin:
        if line.strip() == "stop":
            device.disconnect()
            node.disconnect()  # publishes the death, then stops the network loop and disconnects
            say(event="disconnected")
            return


if __name__ == "__main__":
    main()
