"""Sessions and retained messages of the embedded broker across a `kill -9` and a graceful restart,
with Eclipse Paho (3.1.1 and 5.0) and mosquitto_sub persistent sessions."""

import os
import queue
import re
import signal
import subprocess
import time
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

from interop_support import free_port, wait_for, wait_until_serving

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")
V5, V311 = mqtt.MQTTv5, mqtt.MQTTv311


class Gemba:
    def __init__(self, directory):
        self.directory, self.mqtt, self.http = directory, free_port(), free_port()
        self.log = directory / "serve.log"
        self.process = None

    def start(self, *extra):
        with open(self.log, "a") as log:
            self.process = subprocess.Popen([GEMBA, "serve", "--mqtt-port", str(self.mqtt), "--http-port", str(self.http),
                                             "--data-dir", str(self.directory / "data"), "--mqtt-allow-anonymous",
                                             "--log-level", "info", *extra], stdout=log, stderr=log)
        wait_until_serving(self.process, self.http, self.log)

    def metric(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=5) as response:
            text = response.read().decode()
        match = re.search(rf"^{name}(?:\{{[^}}]*\}})? (\d+)", text, re.M)
        return int(match.group(1)) if match else 0

    def saved_changes(self):
        return self.metric("gemba_mqtt_persistence_saved_changes_total")

    def settle(self):
        """Waits until the saves have caught up: the saved-changes count holds still over a few saves."""
        last = -1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = self.saved_changes()
            if now == last and now > 0:
                return
            last = now
            time.sleep(0.3)
        raise AssertionError("the broker's saves did not settle")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.terminate()
        assert self.process.wait(timeout=20) == 0


class Peer:
    def __init__(self, gemba, client_id, version=V5, persistent=True):
        kwargs = {"client_id": client_id, "protocol": version}
        if version == V311:
            kwargs["clean_session"] = not persistent
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        self.messages, self.connected = queue.Queue(), queue.Queue()
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, flags, rc, p: self.connected.put(flags)
        connect = {}
        if version == V5:
            connect["clean_start"] = not persistent
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600 if persistent else 0
            connect["properties"] = properties
        self.client.connect("127.0.0.1", gemba.mqtt, **connect)
        self.client.loop_start()
        self.flags = self.connected.get(timeout=5)

    def subscribe(self, topic):
        done = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, codes, p: done.put(codes)
        self.client.subscribe(topic, 1)
        return done.get(timeout=5)

    def publish(self, topic, payload, retain=False):
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=5)

    def payloads(self, count):
        return [self.messages.get(timeout=10).payload.decode() for _ in range(count)]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def mosquitto_sub_persistent(gemba, client_id, count=None):
    args = ["mosquitto_sub", "-p", str(gemba.mqtt), "-c", "-i", client_id, "-q", "1", "-t", "persist/#", "-W", "5"]
    if count is None:
        args += ["-E"]  # subscribe, then leave: the session stays
    else:
        args += ["-C", str(count)]
    run = subprocess.run(args, capture_output=True, text=True, timeout=15)
    return run.stdout.split()


@pytest.fixture
def gemba(tmp_path):
    server = Gemba(tmp_path)
    yield server
    if server.process and server.process.poll() is None:
        server.process.kill()
        server.process.wait()


@pytest.mark.parametrize("stop", ["kill", "stop"])
def test_sessions_queued_messages_and_retained_survive(gemba, stop):
    gemba.start()
    subscribers = {"paho311": V311, "paho5": V5}
    for client_id, version in subscribers.items():
        peer = Peer(gemba, client_id, version)
        assert peer.subscribe("persist/#")[0].value == 1
        peer.close()
    mosquitto_sub_persistent(gemba, "mosq-sub")
    publisher = Peer(gemba, "publisher", persistent=False)
    for index in range(3):
        publisher.publish(f"persist/m{index}", f"m{index}")
    publisher.publish("persist/status", "running", retain=True)
    publisher.close()
    gemba.settle()

    gemba.kill() if stop == "kill" else gemba.stop()
    gemba.start()
    restored = [line for line in gemba.log.read_text().splitlines() if "MQTT broker state restored" in line][-1]
    # Three subscribers' sessions, four messages queued for each; retained: ours and the Sparkplug host's STATE.
    assert "mqtt.sessions=3" in restored and "mqtt.session_messages=12" in restored and "mqtt.retained=2" in restored, restored

    for client_id, version in subscribers.items():
        peer = Peer(gemba, client_id, version)
        assert peer.flags.session_present, client_id
        assert peer.payloads(4) == ["m0", "m1", "m2", "running"], client_id
        peer.close()
    assert mosquitto_sub_persistent(gemba, "mosq-sub", count=4) == ["m0", "m1", "m2", "running"]
    late = Peer(gemba, "late", persistent=False)
    late.subscribe("persist/status")
    assert late.payloads(1) == ["running"]
    late.close()
    gemba.stop()


@pytest.mark.parametrize("version", [V311, V5])
def test_an_acknowledged_message_survives_an_immediate_kill(gemba, version):
    """With --mqtt-durable-acks, a PUBACK for a message queued to a persistent session (or retained)
    comes only after the save that holds it: `kill -9` the moment the publisher has its
    acknowledgements loses none."""
    gemba.start("--mqtt-durable-acks")
    subscriber = Peer(gemba, "durable-sub", version)
    subscriber.subscribe("durable/#")
    subscriber.close()
    publisher = Peer(gemba, "durable-pub", version, persistent=False)
    for index in range(5):
        publisher.publish(f"durable/m{index}", f"m{index}")  # returns once the PUBACK arrived
    publisher.publish("durable/state", "kept", retain=True)
    gemba.kill()
    gemba.start("--mqtt-durable-acks")
    subscriber = Peer(gemba, "durable-sub", version)
    assert subscriber.payloads(6) == ["m0", "m1", "m2", "m3", "m4", "kept"]
    subscriber.close()
    gemba.stop()


def test_a_corrupt_state_file_is_moved_aside_and_the_broker_serves(gemba):
    state = gemba.directory / "data" / "mqtt"
    state.mkdir(parents=True)
    (state / "mqtt.sqlite").write_bytes(b"this is not a database" * 500)
    gemba.start()
    assert any(name.startswith("mqtt.sqlite.corrupt-") for name in os.listdir(state))
    assert "moved aside" in gemba.log.read_text()
    peer = Peer(gemba, "after-corruption")
    assert peer.subscribe("persist/x")[0].value == 1
    peer.close()
    gemba.stop()


def test_a_full_disk_is_reported_and_the_broker_keeps_serving(gemba):
    state = gemba.directory / "data" / "mqtt"
    state.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], capture_output=True).returncode != 0:
        pytest.skip("mounting a 1 MB tmpfs needs privileges this machine does not give")
    ballast = state / "ballast"  # what else fills the disk, until an operator removes it
    ballast.write_bytes(b"\0" * 600_000)
    try:
        gemba.start()
        watcher = Peer(gemba, "watcher", persistent=False)
        watcher.subscribe("full/#")
        publisher = Peer(gemba, "filler", persistent=False)
        big = "x" * 100_000
        for index in range(20):  # 2 MB of retained messages for the 400 kB left
            publisher.publish(f"full/r{index}", big, retain=True)
        wait_for(lambda: gemba.metric("gemba_mqtt_persistence_save_failures_total") > 0, what="a save to fail")
        saved_while_full = gemba.saved_changes()
        assert "could not save its sessions and retained messages; it keeps serving" in gemba.log.read_text()

        # Still serving: routing, acknowledgements and new connections are untouched.
        assert len(watcher.payloads(20)) == 20
        publisher.publish("full/live", "still-here")
        assert watcher.payloads(1) == ["still-here"]
        Peer(gemba, "newcomer", persistent=False).close()

        # The big retained messages cleared and the ballast removed: saves succeed, the state is kept.
        for index in range(20):
            publisher.publish(f"full/r{index}", "", retain=True)
        publisher.publish("full/kept", "small", retain=True)
        publisher.close()
        watcher.close()
        ballast.unlink()
        # Saved changes count successful saves only: more than while the disk was full means one succeeded.
        wait_for(lambda: gemba.saved_changes() > saved_while_full, timeout=30, what="saves to succeed again")
        gemba.stop()
        gemba.start()
        late = Peer(gemba, "late", persistent=False)
        late.subscribe("full/#")
        assert late.payloads(1) == ["small"]
        late.close()
        gemba.stop()
    finally:
        if gemba.process and gemba.process.poll() is None:
            gemba.process.kill()
            gemba.process.wait()
        subprocess.run(["umount", str(state)], capture_output=True)
