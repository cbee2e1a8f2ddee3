"""The broker's topic rules (--mqtt-acl-file and the API) and its topic aliases, against
mosquitto_sub/mosquitto_pub (Debian's mosquitto-clients) and Eclipse Paho, MQTT 3.1.1 and 5.0."""

import json
import os
import queue
import re
import socket
import subprocess
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

from interop_support import free_port, wait_for, wait_until_serving

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")
V5, V311 = mqtt.MQTTv5, mqtt.MQTTv311

RULES = """\
# anonymous clients: everything but these
deny   subscribe anonymous  test/nosubscribe
allow  publish   anonymous  own/%c/#
deny   publish   anonymous  own/#
# devices: their own branch of the namespace
allow  pubsub    device:*   uns/%u/#
"""


@pytest.fixture(scope="module")
def gemba(tmp_path_factory):
    directory = tmp_path_factory.mktemp("acl")
    data = str(directory / "data")
    admin = lambda *args: subprocess.run([GEMBA, "admin", *args, "--data-dir", data], check=True, capture_output=True,
                                         text=True).stdout.strip()
    server = {
        "device_secret": admin("device", "create", "--username", "press-9"),
        "key": admin("api-key", "create", "--name", "acl", "--role", "admin"),
        "rules": directory / "acl.rules",
        "mqtt": free_port(), "http": free_port(), "log": directory / "serve.log",
    }
    server["rules"].write_text(RULES)
    with open(server["log"], "w") as log:
        process = subprocess.Popen([GEMBA, "serve", "--mqtt-port", str(server["mqtt"]), "--http-port", str(server["http"]),
                                    "--data-dir", data, "--mqtt-allow-anonymous", "--mqtt-acl-file", str(server["rules"]),
                                    "--log-level", "info"], stdout=log, stderr=log)
    wait_until_serving(process, server["http"], server["log"])
    yield server
    process.terminate()
    process.wait(timeout=20)


def http(server, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server['http']}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {server['key']}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text.startswith(b"{") else text
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, None


class Peer:
    """A paho client recording SUBACK reason codes, PUBACKs and messages."""

    def __init__(self, server, version=V5, client_id="", username=None, password=None, alias_maximum=None):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
        if username:
            self.client.username_pw_set(username, password)
        self.messages, self.subacks, self.connected = queue.Queue(), queue.Queue(), queue.Queue()
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subacks.put([code.value for code in codes])
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.put(rc)
        properties = None
        if version == V5 and alias_maximum:
            properties = Properties(PacketTypes.CONNECT)
            properties.TopicAliasMaximum = alias_maximum
        self.client.connect("127.0.0.1", server["mqtt"], properties=properties)
        self.client.loop_start()
        assert not self.connected.get(timeout=5).is_failure

    def subscribe(self, *filters):
        self.client.subscribe([(topic, 0) for topic in filters])
        return self.subacks.get(timeout=5)

    def publish(self, topic, payload, qos=1):
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=5)
        return info

    def next(self, timeout=5):
        return self.messages.get(timeout=timeout)

    def nothing(self, timeout=0.5):
        with pytest.raises(queue.Empty):
            self.messages.get(timeout=timeout)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def mosquitto_subacks(server, version, *filters):
    """The SUBACK codes mosquitto_sub prints (-d) for one SUBSCRIBE of `filters`."""
    args = ["mosquitto_sub", "-p", str(server["mqtt"]), "-V", version, "-d", "-W", "1"]
    for topic in filters:
        args += ["-t", topic]
    run = subprocess.run(args, capture_output=True, text=True, timeout=10)
    match = re.search(r"Subscribed \(mid: \d+\): ([\d, ]+)", run.stdout)
    assert match, run.stdout + run.stderr
    return [int(code) for code in match.group(1).split(",")]


@pytest.mark.parametrize("version, refused", [("mqttv311", 128), ("mqttv5", 135)])
def test_mosquitto_sub_gets_the_failure_code_for_the_denied_filter_only(gemba, version, refused):
    assert mosquitto_subacks(gemba, version, "test/a", "test/nosubscribe", "test/#") == [0, refused, 0]


@pytest.mark.parametrize("version, refused", [(V311, 128), (V5, 135)])
def test_paho_gets_the_failure_code_for_the_denied_filter_and_nothing_of_it_through_a_wildcard(gemba, version, refused):
    subscriber = Peer(gemba, version)
    assert subscriber.subscribe("test/a", "test/nosubscribe", "test/#") == [0, refused, 0]
    publisher = Peer(gemba, version)
    publisher.publish("test/nosubscribe", "hidden")
    publisher.publish("test/a", "seen")
    assert subscriber.next().topic == "test/a"
    subscriber.nothing()
    subscriber.close(); publisher.close()


def test_client_id_and_user_patterns(gemba):
    watcher = Peer(gemba)
    assert watcher.subscribe("own/#", "uns/#") == [0, 0]
    # %c: an anonymous client publishes only under its own client id; v5 hears 0x87 for the rest.
    own = Peer(gemba, client_id="line-4")
    assert not own.publish("own/line-4/count", "1").rc
    refused = queue.Queue()
    own.client.on_publish = lambda c, u, mid, code, p: refused.put(code.value)
    own.publish("own/line-5/count", "2")
    assert refused.get(timeout=5) == 0x87
    assert [watcher.next().topic] == ["own/line-4/count"]
    watcher.nothing()
    # %u: a device publishes and subscribes under its own name; the topic is routed, not ingested.
    device = Peer(gemba, username="press-9", password=gemba["device_secret"])
    assert device.subscribe("uns/press-9/#", "uns/press-8/#") == [0, 135]
    device.publish("uns/press-9/temp", "71.5")
    assert watcher.next().payload == b"71.5"
    assert device.next().topic == "uns/press-9/temp"
    subprocess.run(["mosquitto_pub", "-p", str(gemba["mqtt"]), "-u", "press-9", "-P", gemba["device_secret"], "-q", "1",
                    "-t", "uns/press-8/temp", "-m", "x"], capture_output=True, timeout=10)
    watcher.nothing()
    for peer in (watcher, own, device):
        peer.close()


def test_a_changed_file_is_taken_up_and_a_bad_one_keeps_the_rules(gemba):
    rules = gemba["rules"]
    holder = Peer(gemba)
    assert holder.subscribe("test/later") == [0]
    rules.write_text(RULES + "deny subscribe anonymous test/later\n")
    wait_for(lambda: mosquitto_subacks(gemba, "mqttv5", "test/later") == [135], what="the changed file to apply")
    # The subscription held before the change is removed too.
    publisher = Peer(gemba)
    publisher.publish("test/later", "x")
    holder.nothing()
    rules.write_text(RULES + "deny sometimes anonymous test/x\n")
    error = wait_for(lambda: http(gemba, "GET", "/api/v1/mqtt/acl")[1]["file"]["error"], what="the bad file to be reported")
    assert "line 7" in error
    assert mosquitto_subacks(gemba, "mqttv5", "test/later", "test/x") == [135, 0]
    assert "line 7" in gemba["log"].read_text()
    rules.write_text(RULES)
    wait_for(lambda: mosquitto_subacks(gemba, "mqttv5", "test/later") == [0], what="the restored file to apply")
    holder.close(); publisher.close()


def test_rules_through_the_api_come_after_the_files_and_are_checked(gemba):
    status, body = http(gemba, "PUT", "/api/v1/mqtt/acl", {"rules": ["deny subscribe all api/secret/#"]})
    assert status == 200 and body["rules"] == ["deny subscribe all api/secret/#"]
    assert body["file"]["rules"][0] == "deny subscribe anonymous test/nosubscribe"
    assert mosquitto_subacks(gemba, "mqttv311", "api/secret/x", "api/open") == [128, 0]
    status, body = http(gemba, "PUT", "/api/v1/mqtt/acl", {"rules": ["allow publish all x", "allow publish nobody y"]})
    assert status == 422 and "rule 2" in body["detail"]
    assert http(gemba, "GET", "/api/v1/mqtt/acl")[1]["rules"] == ["deny subscribe all api/secret/#"]
    status, body = http(gemba, "GET", "/api/v1/audit?action=mqtt.acl.replace")
    assert status == 200 and any(entry.get("action") == "mqtt.acl.replace" for entry in body["items"])
    assert http(gemba, "PUT", "/api/v1/mqtt/acl", {"rules": []})[0] == 200


def test_a_paho_v5_subscriber_that_allows_aliases_receives_them(gemba):
    """paho 2.2 hands the application the alias with an empty topic; the application keeps the map."""
    subscriber = Peer(gemba, alias_maximum=10)
    plain = Peer(gemba)
    assert subscriber.subscribe("alias/#") == [0] and plain.subscribe("alias/#") == [0]
    received, aliases = [], {}

    def on_message(client, userdata, message):
        alias = getattr(message.properties, "TopicAlias", None)
        if message.topic:
            aliases[alias] = message.topic
        received.append((message.topic, alias, aliases.get(alias, message.topic), message.payload))

    subscriber.client.on_message = on_message
    publisher = Peer(gemba)
    for index in range(3):
        publisher.publish("alias/a/long/topic/name", str(index), qos=0)
    publisher.publish("alias/b", "b", qos=1)
    wait_for(lambda: len(received) == 4, what="four messages")
    long = "alias/a/long/topic/name"
    assert received == [(long, 1, long, b"0"), ("", 1, long, b"1"), ("", 1, long, b"2"), ("alias/b", 2, "alias/b", b"b")]
    # A client that did not allow aliases gets every topic in full.
    assert [plain.next().topic for _ in range(4)] == [long, long, long, "alias/b"]
    for peer in (subscriber, plain, publisher):
        peer.close()

    # A raw v5 subscriber with Topic Alias Maximum 1 sees the topic once, then the alias alone.
    with socket.create_connection(("127.0.0.1", gemba["mqtt"]), timeout=5) as raw:
        raw.sendall(bytes([0x10, 18, 0, 4]) + b"MQTT" + bytes([5, 2, 0, 60, 3, 0x22, 0, 1, 0, 2]) + b"rw")
        assert raw.recv(64)[0] == 0x20
        raw.sendall(bytes([0x82, 13, 0, 1, 0, 0, 7]) + b"alias/r" + bytes([0]))
        assert raw.recv(64)[0] == 0x90
        other = Peer(gemba)
        other.publish("alias/r", "1", qos=0)
        other.publish("alias/r", "2", qos=0)
        packets = wait_for(lambda: read_publishes(raw, 2), what="two publishes")
        assert packets == [("alias/r", 1, b"1"), ("", 1, b"2")]
        other.close()


_buffers = {}


def read_publishes(sock, count):
    """Reads v5 PUBLISH packets (QoS 0) until `count` are in: (topic, topic alias, payload) each."""
    data = _buffers.setdefault(sock.fileno(), bytearray())
    sock.settimeout(0.2)
    try:
        data += sock.recv(4096)
    except socket.timeout:
        pass
    packets, offset = [], 0
    while offset + 2 <= len(data):
        length, shift, index = 0, 0, offset + 1
        while True:
            byte = data[index]; index += 1
            length |= (byte & 0x7F) << shift; shift += 7
            if not byte & 0x80:
                break
        if index + length > len(data):
            break
        body = data[index:index + length]
        topic_length = int.from_bytes(body[:2], "big")
        topic = body[2:2 + topic_length].decode()
        properties_length = body[2 + topic_length]
        properties = body[3 + topic_length:3 + topic_length + properties_length]
        alias = int.from_bytes(properties[1:3], "big") if properties[:1] == b"\x23" else None
        packets.append((topic, alias, bytes(body[3 + topic_length + properties_length:])))
        offset = index + length
    return packets if len(packets) >= count else None
