"""Gemba's embedded broker against Eclipse Paho (Python), MQTT 3.1.1 and 5.0.

Run by scripts/test.sh with GEMBA_MQTT_PORT pointing at a running `gemba serve`.
"""
import os
import queue
import socket
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

HOST = "127.0.0.1"
PORT = int(os.environ.get("GEMBA_MQTT_PORT", "1883"))
V5, V311 = mqtt.MQTTv5, mqtt.MQTTv311


def unique(prefix):
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


class Peer:
    """A paho client that records messages, CONNACK and disconnects."""

    def __init__(self, client_id="", version=V5, clean=True, properties=None, will=None, keepalive=60):
        kwargs = {"client_id": client_id, "protocol": version}
        if version == V311:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        self.messages = queue.Queue()
        self.connected = queue.Queue()
        self.disconnected = queue.Queue()
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.put((f, rc, p))
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnected.put(rc)
        if will:
            self.client.will_set(**will)
        connect_kwargs = {"keepalive": keepalive}
        if version == V5:
            connect_kwargs["clean_start"] = clean
            connect_kwargs["properties"] = properties
        self.client.connect(HOST, PORT, **connect_kwargs)
        self.client.loop_start()
        self.flags, self.reason, self.connack_properties = self.connected.get(timeout=5)

    def subscribe(self, topic, qos=0, options=None, properties=None):
        done = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, rcs, p: done.put(rcs)
        if options is not None:
            self.client.subscribe(topic, options=options, properties=properties)
        else:
            self.client.subscribe(topic, qos, properties=properties)
        return done.get(timeout=5)

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=5)
        assert info.is_published()
        return info

    def next(self, timeout=5):
        return self.messages.get(timeout=timeout)

    def nothing(self, timeout=0.5):
        with pytest.raises(queue.Empty):
            self.messages.get(timeout=timeout)

    def drop(self):
        """Close the TCP connection without DISCONNECT."""
        self.client.loop_stop()
        self.client.socket().close()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_every_qos(version, qos):
    topic = unique("qos")
    sub = Peer(version=version)
    sub.subscribe(topic, 2)
    pub = Peer(version=version)
    pub.publish(topic, f"q{qos}", qos=qos)
    message = sub.next()
    assert message.payload == f"q{qos}".encode()
    assert message.qos == qos
    pub.close(); sub.close()


@pytest.mark.parametrize("version", [V311, V5])
def test_retained_set_replace_clear(version):
    topic = unique("retained")
    pub = Peer(version=version)
    pub.publish(topic, "v1", qos=1, retain=True)
    pub.publish(topic, "v2", qos=1, retain=True)
    late = Peer(version=version)
    late.subscribe(topic, 1)
    message = late.next()
    assert (message.payload, message.retain) == (b"v2", True)
    pub.publish(topic, "", qos=1, retain=True)
    later = Peer(version=version)
    later.subscribe(topic, 1)
    later.nothing()
    for peer in (pub, late, later):
        peer.close()


@pytest.mark.parametrize("version", [V311, V5])
def test_will_on_abnormal_disconnect_only(version):
    topic = unique("will")
    watcher = Peer(version=version)
    watcher.subscribe(topic, 1)
    dropped = Peer(version=version, will={"topic": topic, "payload": "gone", "qos": 1})
    dropped.drop()
    assert watcher.next().payload == b"gone"
    polite = Peer(version=version, will={"topic": topic, "payload": "should-not-appear", "qos": 1})
    polite.close()
    watcher.nothing()
    watcher.close()


def test_v5_will_delay_is_cancelled_by_reconnect():
    topic = unique("willdelay")
    watcher = Peer()
    watcher.subscribe(topic, 1)
    will_props = Properties(PacketTypes.WILLMESSAGE)
    will_props.WillDelayInterval = 2
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = 60
    client_id = uuid.uuid4().hex
    will = {"topic": topic, "payload": "delayed", "qos": 1, "properties": will_props}
    first = Peer(client_id, properties=session, will=will)
    first.drop()
    watcher.nothing(timeout=0.8)
    back = Peer(client_id, clean=False, properties=session, will=will)
    watcher.nothing(timeout=2.5)
    back.drop()
    assert watcher.next(timeout=5).payload == b"delayed"
    watcher.close()


def test_keepalive_enforced_at_one_and_a_half_times():
    sock = socket.create_connection((HOST, PORT))
    # MQTT 3.1.1 CONNECT, client id "ka", keepalive 1 s; then silence.
    sock.sendall(bytes([0x10, 0x0E, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x01, 0x00, 0x02]) + b"ka")
    assert sock.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    started = time.monotonic()
    sock.settimeout(5)
    assert sock.recv(1) == b""  # closed by the broker
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed <= 2.5, elapsed


def test_persistent_session_queues_for_offline_client_v311():
    topic = unique("offline")
    client_id = uuid.uuid4().hex
    sub = Peer(client_id, version=V311, clean=False)
    sub.subscribe(topic, 1)
    sub.close()
    pub = Peer()
    for i in range(3):
        pub.publish(topic, f"m{i}", qos=1)
    back = Peer(client_id, version=V311, clean=False)
    assert back.flags.session_present
    assert [back.next().payload for _ in range(3)] == [b"m0", b"m1", b"m2"]
    back.close(); pub.close()


def test_v5_session_expiry_zero_discards_session():
    topic = unique("expiry")
    client_id = uuid.uuid4().hex
    sub = Peer(client_id)
    sub.subscribe(topic, 1)
    sub.close()
    back = Peer(client_id, clean=False)
    assert not back.flags.session_present
    back.close()


def test_client_id_takeover():
    client_id = uuid.uuid4().hex
    first = Peer(client_id)
    second = Peer(client_id)
    reason = first.disconnected.get(timeout=5)
    assert reason == 142  # session taken over
    second.close()
    first.client.loop_stop()


def test_zero_length_client_id_is_assigned_in_v5():
    peer = Peer("")
    assert peer.connack_properties.AssignedClientIdentifier
    peer.close()


def test_zero_length_client_id_with_persistent_session_is_rejected_in_v311():
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=V311, clean_session=True)
    # paho refuses this combination itself, so speak raw bytes: clean session 0, empty id.
    sock = socket.create_connection((HOST, PORT))
    sock.sendall(bytes([0x10, 0x0C, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x00, 0x00, 0x3C, 0x00, 0x00]))
    assert sock.recv(4) == bytes([0x20, 0x02, 0x00, 0x02])
    del client


def test_overlapping_subscriptions_deliver_once_at_highest_qos_with_ids():
    base = unique("overlap")
    sub = Peer()
    p1 = Properties(PacketTypes.SUBSCRIBE); p1.SubscriptionIdentifier = 11
    p2 = Properties(PacketTypes.SUBSCRIBE); p2.SubscriptionIdentifier = 22
    sub.subscribe(base + "/+", 0, properties=p1)
    sub.subscribe(base + "/#", 2, properties=p2)
    pub = Peer()
    pub.publish(base + "/x", "once", qos=2)
    message = sub.next()
    assert message.qos == 2
    assert sorted(message.properties.SubscriptionIdentifier) == [11, 22]
    sub.nothing()
    pub.close(); sub.close()


def test_wildcards_and_dollar_topics():
    base = unique("wild")
    sub = Peer()
    sub.subscribe(base + "/+/temp", 0)
    sub.subscribe("#", options=mqtt.SubscribeOptions(qos=0, retainHandling=2))  # ignore other tests' retained
    pub = Peer()
    pub.publish("$gemba/internal", "hidden", qos=1)
    pub.publish(base + "/m1/temp", "t", qos=1)
    # Two overlapping subscriptions, one delivery; '#' must not match the '$' topic.
    assert sub.next().topic == base + "/m1/temp"
    sub.nothing()
    pub.close(); sub.close()


def test_shared_subscription_splits_messages():
    topic = unique("shared")
    group = uuid.uuid4().hex[:6]
    workers = [Peer(), Peer()]
    for worker in workers:
        worker.subscribe(f"$share/{group}/{topic}", 1)
    pub = Peer()
    for i in range(10):
        pub.publish(topic, str(i), qos=1)
    counts = []
    for worker in workers:
        n = 0
        while True:
            try:
                worker.next(timeout=0.5); n += 1
            except queue.Empty:
                break
        counts.append(n)
    assert sum(counts) == 10 and min(counts) >= 3, counts
    pub.close(); [w.close() for w in workers]


def test_no_local_and_retain_as_published_and_retain_handling():
    topic = unique("options")
    me = Peer()
    me.subscribe(topic, options=mqtt.SubscribeOptions(qos=1, noLocal=True))
    me.publish(topic, "mine", qos=1)
    me.nothing()
    me.publish(topic, "kept", qos=1, retain=True)
    rap = Peer()
    rap.subscribe(topic, options=mqtt.SubscribeOptions(qos=1, retainAsPublished=True, retainHandling=2))
    rap.nothing()  # retain handling 2: no retained message at subscribe time
    me.publish(topic, "live", qos=1, retain=True)
    message = rap.next()
    assert (message.payload, message.retain) == (b"live", True)
    plain = Peer()
    plain.subscribe(topic, options=mqtt.SubscribeOptions(qos=1, retainHandling=0))
    assert plain.next().retain is True  # the retained copy at subscribe time
    me.publish(topic, "again", qos=1, retain=True)
    assert plain.next().retain is False  # live delivery without retain-as-published
    for peer in (me, rap, plain):
        peer.close()


def test_topic_alias_from_client():
    topic = unique("alias")
    sub = Peer()
    sub.subscribe(topic, 1)
    pub = Peer()
    props = Properties(PacketTypes.PUBLISH); props.TopicAlias = 3
    pub.publish(topic, "first", qos=1, properties=props)
    pub.publish("", "second", qos=1, properties=props)
    assert [sub.next().topic for _ in range(2)] == [topic, topic]
    pub.close(); sub.close()


def test_client_maximum_packet_size_is_respected():
    topic = unique("maxsize")
    props = Properties(PacketTypes.CONNECT); props.MaximumPacketSize = 200
    sub = Peer(properties=props)
    sub.subscribe(topic, 0)
    pub = Peer()
    pub.publish(topic, "x" * 500, qos=1)
    pub.publish(topic, "small", qos=1)
    assert sub.next().payload == b"small"
    pub.close(); sub.close()


def test_message_expiry():
    topic = unique("expire")
    pub = Peer()
    props = Properties(PacketTypes.PUBLISH); props.MessageExpiryInterval = 1
    pub.publish(topic, "short-lived", qos=1, retain=True, properties=props)
    early = Peer()
    early.subscribe(topic, 1)
    message = early.next()
    assert message.payload == b"short-lived"  # retained until it expires
    assert message.properties.MessageExpiryInterval <= 1
    early.close()
    deadline = time.monotonic() + 4
    while True:  # poll with a deadline until a new subscriber no longer gets it
        probe = Peer()
        probe.subscribe(topic, 1)
        try:
            probe.messages.get(timeout=0.3)
            still_retained = True
        except queue.Empty:
            still_retained = False
        probe.close()
        if not still_retained:
            break
        assert time.monotonic() < deadline, "retained message outlived its 1 s expiry"
    pub.close()


def test_user_properties_and_request_response_pass_through():
    topic = unique("req")
    responder = Peer()
    responder.subscribe(topic, 1)
    requester = Peer()
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topic + "/reply"
    props.CorrelationData = b"\x01\x02"
    props.UserProperty = [("line", "3"), ("shift", "A")]
    props.ContentType = "application/json"
    requester.publish(topic, "{}", qos=1, properties=props)
    message = responder.next()
    assert message.properties.ResponseTopic == topic + "/reply"
    assert message.properties.CorrelationData == b"\x01\x02"
    assert ("line", "3") in message.properties.UserProperty
    assert message.properties.ContentType == "application/json"
    requester.close(); responder.close()


def test_connack_advertises_receive_maximum_and_limits():
    peer = Peer()
    assert peer.connack_properties.ReceiveMaximum >= 1
    assert peer.connack_properties.TopicAliasMaximum >= 1
    assert peer.connack_properties.MaximumPacketSize >= 1024
    peer.close()


def test_malformed_packet_is_disconnected_and_neighbours_unaffected():
    topic = unique("neighbour")
    sub = Peer()
    sub.subscribe(topic, 1)
    sock = socket.create_connection((HOST, PORT))
    sock.sendall(bytes([0x10, 0x0E, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x02]) + b"bd")
    assert sock.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    sock.sendall(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))  # remaining length over 4 bytes
    sock.settimeout(5)
    assert sock.recv(1) == b""
    pub = Peer()
    pub.publish(topic, "fine", qos=1)
    assert sub.next().payload == b"fine"
    pub.close(); sub.close()
