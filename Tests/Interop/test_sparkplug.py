"""Gemba as a Sparkplug B primary host, against third-party edge nodes: pysparkplug and
mqtt-spb-wrapper (each in its own virtualenv, their protobuf pins conflict) publishing through
Debian's mosquitto to the `gemba serve --sparkplug-upstream` at GEMBA_UPSTREAM_HTTP_URL, and
pysparkplug on Gemba's embedded broker. Gemba's own messages are read back with `protoc --decode`.
"""
import asyncio
import json
import os
import queue
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import websockets

from test_telemetry import HTTP, MOSQUITTO_PORT, MQTT_PORT, UPSTREAM_HTTP, authorized, eventually, get, latest, post, token

PYSPARKPLUG = os.environ.get("PYSPARKPLUG_PYTHON")
SPB_WRAPPER = os.environ.get("SPB_WRAPPER_PYTHON")
HERE = Path(__file__).parent
ROOT = HERE.parent.parent

pytestmark = pytest.mark.skipif(not (PYSPARKPLUG and SPB_WRAPPER and UPSTREAM_HTTP),
                                reason="needs PYSPARKPLUG_PYTHON, SPB_WRAPPER_PYTHON and GEMBA_UPSTREAM_HTTP_URL")


class Edge:
    """An edge-node script in its own process; its JSON event lines arrive on a queue."""

    def __init__(self, python, script, port, group, node, device):
        self.process = subprocess.Popen(
            [python, str(HERE / "sparkplug" / script), "--port", str(port), "--group", group, "--node", node,
             "--device", device],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def wait(self, kind, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event["event"] == kind:
                return event
            assert event["event"] != "error", event
        raise AssertionError(f"no {kind} event from the edge node")

    def stop(self):
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        self.wait("disconnected")

    def kill(self):
        self.process.kill()
        self.process.wait()


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def command(machine, tag, value, base=UPSTREAM_HTTP):
    body = json.dumps({"machine": machine, "tag": tag, "value": value}).encode()
    request = urllib.request.Request(base + "/api/v1/commands", data=body, method="POST",
                                     headers=authorized({"Content-Type": "application/json"}, base=base))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def protoc_decode(payload):
    """Google's protoc reading a payload against our schema: the independent decoder."""
    result = subprocess.run(["protoc", "--decode", "org.eclipse.tahu.protobuf.Payload", "--proto_path", str(ROOT / "Protos"),
                             "sparkplug_b.proto"], input=payload, capture_output=True, check=True)
    return result.stdout.decode()


def all_stale(machine, base=UPSTREAM_HTTP):
    values = latest(machine, base)
    return values and all(value["quality"] == "bad" for value in values.values()) and values


MOSQUITTO2_PORT = int(os.environ.get("MOSQUITTO2_PORT", "0"))


def state_messages(port, count=1, publish=None, timeout=10):
    """The retained STATE of host `gemba` on a broker, and the next `count - 1` STATE messages after `publish`."""
    received = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, message: received.put(message)
    client.connect("127.0.0.1", port)
    client.subscribe("spBv1.0/STATE/gemba", qos=1)
    client.loop_start()
    try:
        messages = [received.get(timeout=timeout)]
        if publish:
            client.publish("spBv1.0/STATE/gemba", publish, qos=1, retain=True).wait_for_publish(10)
        while len(messages) < count:
            messages.append(received.get(timeout=timeout))
        return messages
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.parametrize("broker", ["first", "second"])
def test_gemba_state_is_retained_on_each_upstream_broker(broker):
    port = MOSQUITTO_PORT if broker == "first" else MOSQUITTO2_PORT
    if not port:
        pytest.skip("MOSQUITTO2_PORT not set")
    message = state_messages(port)[0]
    state = json.loads(message.payload)
    assert message.retain and message.qos == 1
    assert state["online"] is True and isinstance(state["timestamp"], int)


def test_gemba_republishes_online_when_it_sees_its_own_offline_state():
    birth = json.loads(state_messages(MOSQUITTO_PORT)[0].payload)
    stale = json.dumps({"online": False, "timestamp": birth["timestamp"]})
    messages = state_messages(MOSQUITTO_PORT, count=3, publish=stale)
    # Our own offline, then Gemba's online again with its birth timestamp.
    assert json.loads(messages[1].payload)["online"] is False
    again = json.loads(messages[2].payload)
    assert again == {"online": True, "timestamp": birth["timestamp"]}
    assert json.loads(state_messages(MOSQUITTO_PORT)[0].payload)["online"] is True


def test_pysparkplug_metrics_arrive_with_type_value_and_time_then_stale_on_ndeath():
    node = unique("py")
    edge = Edge(PYSPARKPLUG, "edge_pysparkplug.py", MOSQUITTO_PORT, "G1", node, "D1")
    try:
        published = edge.wait("published")
        device = f"G1/{node}/D1"
        values = eventually(lambda: (v := latest(device, UPSTREAM_HTTP)) and v.get("Pressure", {}).get("v") == -13 and v)
        assert values["Temperature"] == {**values["Temperature"], "v": 22.25, "t": published["t1"], "quality": "good"}
        assert values["Running"]["v"] is True
        assert values["Total"]["v"] == -5_000_000_000
        assert values["Setpoint"]["v"] == 10.0
        assert values["Samples"]["v"] == "[1,-2,3]"
        assert values["Started"]["v"] == 1_700_000_000_000
        own = eventually(lambda: (v := latest(f"G1/{node}/_node", UPSTREAM_HTTP)) and v.get("Count", {}).get("v") == 8 and v)
        assert own["Line.Speed"]["v"] == 1.5 and own["Mode"]["v"] == "AUTO"
        assert own["Line.Speed"]["t"] == published["t0"]

        # A write: DCMD in the metric's datatype, received by pysparkplug's device.
        status, body = command(device, "Setpoint", 12.5)
        assert status == 202, body
        dcmd = edge.wait("dcmd")
        assert dcmd["metrics"] == [{"name": "Setpoint", "datatype": 10, "value": 12.5}]
        status, body = command(device, "Pressure", 70000)
        assert status == 422, body
        audit = get("/api/v1/audit?action=http.post&limit=50", UPSTREAM_HTTP)
        writes = [item for item in audit["items"] if item["target"] == "/api/v1/commands"]
        assert [item["outcome"] for item in writes[:2]] == ["422", "202"], writes[:2]

        # pysparkplug's graceful NDEATH carries the next bdSeq: still this session's death.
        edge.stop()
        stale = eventually(lambda: all_stale(device))
        assert stale["Temperature"]["v"] == 22.25
        assert eventually(lambda: all_stale(f"G1/{node}/_node"))
    finally:
        edge.kill()


def test_killed_edge_node_will_marks_its_tags_stale():
    node = unique("kill")
    edge = Edge(PYSPARKPLUG, "edge_pysparkplug.py", MOSQUITTO_PORT, "G1", node, "D1")
    edge.wait("published")
    device = f"G1/{node}/D1"
    eventually(lambda: latest(device, UPSTREAM_HTTP).get("Pressure", {}).get("v") == -13)
    edge.kill()  # no DISCONNECT: mosquitto publishes the will (NDEATH with the birth's bdSeq)
    stale = eventually(lambda: all_stale(device))
    assert stale["Pressure"]["v"] == -13


def test_mqtt_spb_wrapper_metrics_arrive_despite_its_deviations():
    node = unique("spbw")
    edge = Edge(SPB_WRAPPER, "edge_spb_wrapper.py", MOSQUITTO_PORT, "G1", node, "D1")
    try:
        published = edge.wait("published")
        own = eventually(lambda: (v := latest(f"G1/{node}/_node", UPSTREAM_HTTP))
                         and v.get("DATA.Temperature", {}).get("v") == 22.0 and v)
        assert own["DATA.Temperature"]["t"] == published["t1"]
        assert own["DATA.Batch"]["v"] == "B-1042"
        device = eventually(lambda: (v := latest(f"G1/{node}/D1", UPSTREAM_HTTP))
                            and v.get("DATA.Cycles", {}).get("v") == 42 and v)
        assert device["DATA.Pressure"]["v"] == 1.5
        # DDEATH without seq and NDEATH with bdSeq + 1, both without timestamps.
        edge.stop()
        assert eventually(lambda: all_stale(f"G1/{node}/D1"))
        assert eventually(lambda: all_stale(f"G1/{node}/_node"))
    finally:
        edge.kill()


def test_data_without_a_birth_gets_a_rebirth_request_gemba_encodes_for_protoc():
    node = unique("nobirth")
    received = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_message = lambda _c, _u, message: received.put(message)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", MOSQUITTO_PORT)
    client.subscribe(f"spBv1.0/G1/NCMD/{node}", qos=0)
    client.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK from mosquitto"
        # An NDATA of a node Gemba never saw born: timestamp (field 1), seq 1 (field 3).
        client.publish(f"spBv1.0/G1/NDATA/{node}", bytes([0x08, 0x01, 0x18, 0x01]))
        # Corrupt protobuf on another node costs nothing but a counter.
        client.publish(f"spBv1.0/G1/NDATA/{unique('bad')}", b"\x12\xff\xff\xff\xff\x0f")
        message = received.get(timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()
    decoded = protoc_decode(message.payload)
    assert 'name: "Node Control/Rebirth"' in decoded and "boolean_value: true" in decoded, decoded
    metrics = urllib.request.urlopen(UPSTREAM_HTTP + "/metrics", timeout=10).read().decode()
    assert 'gemba_sparkplug_events_total{kind="corrupt_payload"}' in metrics


def test_pysparkplug_on_the_embedded_broker_and_staleness_on_the_live_stream():
    node = unique("emb")
    machine = f"G2/{node}/D1"
    edge = Edge(PYSPARKPLUG, "edge_pysparkplug.py", MQTT_PORT, "G2", node, "D1")
    try:
        edge.wait("published")
        values = eventually(lambda: (v := latest(machine, HTTP)) and v.get("Pressure", {}).get("v") == -13 and v)
        assert values["Temperature"]["v"] == 22.25
        status, body = command(machine, "Running", False, base=HTTP)
        assert status == 202, body
        assert edge.wait("dcmd")["metrics"] == [{"name": "Running", "datatype": 11, "value": False}]

        probe = f"G2/{node}/probe"  # another machine on the same stream, to see the subscription is live

        async def subscription_is_live(socket):
            for attempt in range(100):
                post("/api/v1/ingest", json.dumps([{"machine": probe, "values": {"ping": attempt}}]).encode())
                try:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 0.1))
                except asyncio.TimeoutError:
                    continue
                if any(sample["machine"] == probe for sample in frame["samples"]):
                    return
            raise AssertionError("the live stream never delivered the probe")

        async def watch_the_death():
            url = HTTP.replace("http://", "ws://") + f"/api/v1/live?machine={machine}&machine={probe}&access_token={token()}"
            async with websockets.connect(url) as socket:
                await subscription_is_live(socket)
                edge.kill()  # the will: NDEATH
                stale = {}
                while len(stale) < 7:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
                    stale.update({s["tag"]: s for s in frame["samples"] if s["quality"] == "bad" and s["machine"] == machine})
                return stale

        stale = asyncio.run(watch_the_death())
        assert stale["Pressure"]["v"] == -13
    finally:
        edge.kill()
    assert eventually(lambda: all_stale(machine, HTTP))


GEMBA_BIN = os.environ.get("GEMBA_BIN", str(ROOT / ".build" / "debug" / "gemba"))


def test_gemba_edge_node_read_by_protoc_and_by_gembas_host():
    node = unique("edge")
    captured = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_message = lambda _c, _u, message: captured.put(message)
    client.connect("127.0.0.1", MOSQUITTO_PORT)
    client.subscribe(f"spBv1.0/GE/+/{node}/#", qos=0)
    client.subscribe(f"spBv1.0/GE/+/{node}", qos=0)
    client.loop_start()
    edge = subprocess.Popen([GEMBA_BIN, "edge", "--broker", f"mqtt://127.0.0.1:{MOSQUITTO_PORT}", "--group", "GE",
                             "--node", node, "--devices", "2", "--primary-host", "gemba", "--interval", "0.2",
                             "--log-level", "warning"])
    try:
        def next_message(kind):
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                message = captured.get(timeout=15)
                if f"/{kind}/" in message.topic:
                    return message
            raise AssertionError(f"no {kind}")

        nbirth = protoc_decode(next_message("NBIRTH").payload)
        assert 'name: "bdSeq"' in nbirth and 'name: "Node Control/Rebirth"' in nbirth, nbirth
        dbirth_message = next_message("DBIRTH")
        dbirth = protoc_decode(dbirth_message.payload)
        assert 'name: "spindle_temp"' in dbirth and "alias: " in dbirth and "datatype: 10" in dbirth, dbirth
        assert 'string_value: "\\302\\260C"' in dbirth or 'string_value: "°C"' in dbirth, "engUnit property"
        ddata = protoc_decode(next_message("DDATA").payload)
        assert "alias: " in ddata and "seq: " in ddata, ddata

        machine = f"GE/{node}/cnc-1"
        values = eventually(lambda: (v := latest(machine, UPSTREAM_HTTP)) and "spindle_temp" in v and v, timeout=15)
        assert values["total_count"]["quality"] == "good"
        tags = get(f"/api/v1/tags?machine={machine}", UPSTREAM_HTTP)
        assert any(tag.get("unit") == "°C" for tag in tags["tags"]), tags

        # A write reaches the device side, which reports the written value back.
        status, body = command(machine, "speed", 999.5)
        assert status == 202, body
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = captured.get(timeout=10)
            if "/DDATA/" in message.topic and "double_value: 999.5" in protoc_decode(message.payload):
                break
        else:
            raise AssertionError("the written value never came back in a DDATA")
    finally:
        edge.kill()
        edge.wait()
        client.loop_stop()
        client.disconnect()
    # Killed without DISCONNECT: the will (NDEATH) marks the tags stale.
    assert eventually(lambda: all_stale(f"GE/{node}/cnc-1"), timeout=15)


def test_an_edge_node_on_the_second_broker_reaches_the_same_host():
    if not MOSQUITTO2_PORT:
        pytest.skip("MOSQUITTO2_PORT not set")
    node = unique("second")
    edge = Edge(PYSPARKPLUG, "edge_pysparkplug.py", MOSQUITTO2_PORT, "G1", node, "D1")
    try:
        edge.wait("published")
        values = eventually(lambda: (v := latest(f"G1/{node}/D1", UPSTREAM_HTTP)) and v.get("Pressure", {}).get("v") == -13 and v)
        assert values["Running"]["v"] is True
        # Commands go out on the broker the node is on.
        status, body = command(f"G1/{node}/D1", "Setpoint", 7.5)
        assert status == 202, body
        assert edge.wait("dcmd")["metrics"] == [{"name": "Setpoint", "datatype": 10, "value": 7.5}]
    finally:
        edge.kill()


def test_simulate_sparkplug_runs_one_edge_node_per_line():
    simulator = subprocess.Popen([GEMBA_BIN, "simulate", "--sparkplug", "--mqtt", f"mqtt://127.0.0.1:{MOSQUITTO2_PORT or MOSQUITTO_PORT}",
                                  "--machines", "8", "--interval", "0.2", "--duration", "30", "--log-level", "warning"])
    try:
        for machine in ["plant1/line1/cnc-1", "plant1/line2/cnc-5"]:
            values = eventually(lambda: (v := latest(machine, UPSTREAM_HTTP)) and "state" in v
                                and v["total_count"]["quality"] == "good" and v, timeout=15)
            assert values["speed"]["quality"] == "good"
    finally:
        simulator.terminate()
        assert simulator.wait(timeout=15) == 0
    # A graceful stop sends NDEATH: the lines' tags go stale.
    assert eventually(lambda: all_stale("plant1/line1/cnc-1"), timeout=15)
