"""`--mqtt-upstream` against Debian's mosquitto, with Eclipse Paho publishing QoS 1 as devices do.

- Messages are acknowledged to mosquitto only after the commit that holds them, so a `kill -9` of
  gemba in the middle of a stream loses nothing: mosquitto keeps the persistent session and sends
  what was not acknowledged again when gemba comes back with the same client id.
- Two nodes in one MQTT 5 share group (`--mqtt-upstream-group`) split the stream: every message
  is stored by exactly one of them.
- A node started before its broker serves at once and subscribes once the broker is up.
- A node whose broker went away stops on SIGTERM, at once and with exit code 0.
"""
import json
import time
import urllib.error

import paho.mqtt.client as mqtt
import pytest

from interop_support import GembaServer, Mosquitto, free_port, wait_for

PASSWORD = "upstream-Secret-123456"
MACHINE = "up/line1/m1"


@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path)
    yield broker.port
    broker.stop()


def node(path, broker_port, *extra):
    server = GembaServer(path, PASSWORD, ["--mqtt-upstream", f"mqtt://127.0.0.1:{broker_port}", *extra])
    wait_for(lambda: "subscribed to upstream broker" in open(str(path) + ".log").read(), what="the upstream subscription")
    return server


def publisher(port):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"plc-{port}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish(client, base, numbers):
    return [client.publish(f"gemba/v1/{MACHINE}", json.dumps({"ts": base + n * 100, "values": {"n": n}}), qos=1) for n in numbers]


def stored(server, base, count):
    """The values of `n` stored from `base`; none while the machine is unknown (404)."""
    try:
        body = server.get(f"/api/v1/history?machine={MACHINE}&tag=n&from={base}&to={base + count * 100}&points=100000")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
    series = body["series"]
    return [int(point["v"]) for point in series[0]["points"]] if series else []


def test_a_killed_node_loses_no_acknowledged_message(mosquitto, tmp_path):
    count = 20_000
    base = (int(time.time()) - 3600) * 1000
    node(tmp_path / "node", mosquitto).stop()   # mosquitto now keeps gemba's persistent session
    client = publisher(mosquitto)
    try:
        for info in publish(client, base, range(count)):
            info.wait_for_publish(30)              # queued at mosquitto for gemba's session
    finally:
        client.disconnect()
        client.loop_stop()
    # Back online, gemba receives the backlog faster than it commits it: kill it as its session resumes.
    log = tmp_path / "node.log"
    subscriptions = log.read_text().count("subscribed to upstream broker")
    starting = GembaServer.launch(tmp_path / "node", PASSWORD, ["--mqtt-upstream", f"mqtt://127.0.0.1:{mosquitto}"])
    try:
        wait_for(lambda: log.read_text().count("subscribed to upstream broker") > subscriptions, interval=0.002,
                 what="the session to resume")
    finally:
        starting.kill()
        starting.wait()
    gemba = node(tmp_path / "node", mosquitto)
    try:
        wait_for(lambda: len(stored(gemba, base, count)) == count, timeout=60, what="every message stored after the restart")
        assert sorted(stored(gemba, base, count)) == list(range(count))
    finally:
        gemba.stop()


def test_a_share_group_stores_each_message_on_one_node(mosquitto, tmp_path):
    count = 1000
    base = (int(time.time()) - 7200) * 1000
    nodes = [node(tmp_path / f"node{index}", mosquitto, "--mqtt-upstream-group", "gemba") for index in range(2)]
    client = publisher(mosquitto)
    try:
        for info in publish(client, base, range(count)):
            info.wait_for_publish(30)
        wait_for(lambda: sum(len(stored(n, base, count)) for n in nodes) == count, timeout=60, what="the stream split across nodes")
        first, second = (set(stored(n, base, count)) for n in nodes)
        assert first and second, "both nodes took part"
        assert not first & second and first | second == set(range(count))
    finally:
        client.disconnect()
        client.loop_stop()
        for n in nodes:
            n.stop()


@pytest.mark.parametrize("group", [[], ["--mqtt-upstream-group", "plant"]], ids=["alone", "share-group"])
def test_a_node_started_before_its_broker_subscribes_once_the_broker_is_up(tmp_path, group):
    """In a share group the node also relays live samples through that broker; it waits for it too."""
    port = free_port()
    gemba = GembaServer(tmp_path / "node", PASSWORD, ["--mqtt-upstream", f"mqtt://127.0.0.1:{port}", *group])
    try:
        log = tmp_path / "node.log"
        clients = 2 if group else 1  # in a share group, the upstream subscriber and the live relay
        wait_for(lambda: log.read_text().count("upstream broker unreachable") >= clients,
                 what="each client's failed connect to be reported")
        assert gemba.ready(), "the node serves while its upstream broker is away"
        broker = Mosquitto(tmp_path, port)
        try:
            wait_for(lambda: "subscribed to upstream broker" in log.read_text(), timeout=30, what="the upstream subscription")
            if group:
                wait_for(lambda: "relaying live samples" in log.read_text(), timeout=30, what="the live relay's connection")
            base = (int(time.time()) - 600) * 1000
            client = publisher(port)
            try:
                for info in publish(client, base, range(10)):
                    info.wait_for_publish(10)
                wait_for(lambda: stored(gemba, base, 10) == list(range(10)), what="the messages stored")
            finally:
                client.disconnect()
                client.loop_stop()
        finally:
            broker.stop()
    finally:
        gemba.stop()


def test_a_node_whose_broker_went_away_stops_when_asked(tmp_path):
    """Stopping, a node of a share group tells the others it no longer watches (QoS 1, retained).
    With the broker gone that message can never be acknowledged: the node gives up on it, and
    exits 0 within its service manager's patience instead of hanging."""
    broker = Mosquitto(tmp_path)
    gemba = node(tmp_path / "node", broker.port, "--mqtt-upstream-group", "plant")
    log = tmp_path / "node.log"
    wait_for(lambda: "relaying live samples" in log.read_text(), what="the live relay's connection")
    broker.stop()
    wait_for(lambda: "MQTT connection lost" in log.read_text(), what="the lost connection to be noticed")
    started = time.monotonic()
    gemba.stop()
    assert time.monotonic() - started < 25, "a stopping node waits for a broker that is gone"
