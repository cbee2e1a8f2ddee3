"""Alarms and notifications against peers nobody here wrote: a webhook receiver that verifies
every message with the `standardwebhooks` package (the Standard Webhooks reference verifier) and
answers 500, 429 with Retry-After, 410 or nothing at all, on demand; Eclipse Paho feeding a rule
over MQTT while `gemba serve` is killed with SIGKILL and restarted.

Each test starts its own `gemba serve` (GEMBA_BIN) with a short retry schedule and loopback
webhooks allowed, and its own receiver.
"""
import http.server
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import paho.mqtt.client as mqtt
import pytest
from standardwebhooks.webhooks import Webhook

from interop_support import free_port, wait_for, wait_until_serving

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")


class Gemba:
    """One `gemba serve` with its own data directory, restartable (gracefully or with SIGKILL)."""

    def __init__(self, directory, retry_schedule="300ms,300ms,300ms"):
        self.directory = directory
        self.retry_schedule = retry_schedule
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.key = subprocess.run([GEMBA, "admin", "api-key", "create", "--data-dir", directory, "--name", "alarms", "--role", "owner"],
                                  check=True, capture_output=True, text=True).stdout.strip()
        self.process = None
        self.start()

    def start(self):
        log = open(os.path.join(self.directory, "serve.log"), "a")
        self.process = subprocess.Popen(
            [GEMBA, "serve", "--http-port", str(self.http_port), "--mqtt-port", str(self.mqtt_port), "--data-dir", self.directory,
             "--mqtt-allow-anonymous", "--notify-allow-private-networks", "--notify-retry-schedule", self.retry_schedule,
             "--notify-timeout", "1s", "--log-level", "notice", "--api-rate", "1000000"], stdout=log, stderr=log)
        wait_until_serving(self.process, self.http_port, log.name)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, (json.loads(text) if text and response.headers.get_content_type() == "application/json" else text)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


class Receiver:
    """An HTTP endpoint that verifies each webhook with `standardwebhooks` and answers from a script."""

    def __init__(self):
        self.secrets = []
        self.script = []  # answers for the next requests: 200, 500, (429, seconds), 410, "hang"
        self.received = []  # (time, webhook-id, body, verified-by-every-secret)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name: value for name, value in self.headers.items()}
                verified = bool(receiver.secrets) and all(Receiver.verifies(secret, body, headers) for secret in receiver.secrets)
                receiver.received.append((time.monotonic(), headers.get("webhook-id"), json.loads(body), verified))
                answer = receiver.script.pop(0) if receiver.script else 200
                if answer == "hang":
                    time.sleep(3)
                    answer = 200
                status, retry_after = answer if isinstance(answer, tuple) else (answer, None)
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def verifies(secret, body, headers):
        try:
            Webhook(secret).verify(body, headers)
            return True
        except Exception:
            return False

    def close(self):
        self.server.shutdown()


@pytest.fixture
def gemba():
    with tempfile.TemporaryDirectory(prefix="gemba-alarms-") as directory:
        server = Gemba(directory)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def webhook_setup(gemba, receiver, rule_condition="spindle_temp > 85"):
    status, channel = gemba.call("PUT", "/api/v1/notification-channels/ops", {"name": "Ops", "kind": "webhook", "url": receiver.url})
    assert status == 200, channel
    receiver.secrets = [channel["secret"]]
    status, policy = gemba.call("PUT", "/api/v1/notification-policies/all", {"name": "All", "channels": ["ops"], "events": ["activated"]})
    assert status == 200, policy
    status, rule = gemba.call("PUT", "/api/v1/rules/hot", {"name": "Hot spindle", "severity": "high", "condition": rule_condition})
    assert status == 200, rule


def heat(gemba, machine, value=95.0):
    status, _ = gemba.call("POST", "/api/v1/ingest", {"records": [{"machine": machine, "values": {"spindle_temp": value}}]})
    assert status == 200


def notification(gemba, status=None):
    query = f"?status={status}" if status else ""
    items = gemba.call("GET", f"/api/v1/notifications{query}")[1]["items"]
    return items[0] if items else None


def test_signed_webhooks_follow_the_retry_schedule_and_retry_after(gemba, receiver):
    receiver.script = [500, (429, 2), 200]
    webhook_setup(gemba, receiver)
    heat(gemba, "plant1/line1/cnc-1")
    delivered = wait_for(lambda: notification(gemba, "delivered"), what="the webhook to be delivered")
    assert [verified for *_, verified in receiver.received] == [True, True, True], "every attempt verifies with standardwebhooks"
    ids = {webhook_id for _, webhook_id, _, _ in receiver.received}
    assert len(ids) == 1 and delivered["message_id"] in ids, "one message id on every attempt"
    times = [arrival for arrival, *_ in receiver.received]
    assert times[1] - times[0] >= 0.25, "the schedule's first delay"
    assert times[2] - times[1] >= 1.9, "Retry-After: 2 honoured"
    body = receiver.received[-1][2]
    assert body["type"] == "alarm.activated" and body["data"]["machine"] == "plant1/line1/cnc-1" and body["data"]["severity"] == "high"
    attempts = gemba.call("GET", f"/api/v1/notifications/{delivered['id']}/attempts")[1]["items"]
    assert [attempt["status_code"] for attempt in attempts] == [500, 429, 200]


def test_a_rotated_secret_signs_beside_the_old_one(gemba, receiver):
    webhook_setup(gemba, receiver)
    status, rotated = gemba.call("POST", "/api/v1/notification-channels/ops/rotate-secret")
    assert status == 200
    receiver.secrets.append(rotated["secret"])
    status, _ = gemba.call("POST", "/api/v1/notification-channels/ops/test")
    assert status == 202
    wait_for(lambda: receiver.received, what="the test message")
    assert receiver.received[0][3], "the message verifies with the old and with the new secret"


def test_410_disables_the_channel(gemba, receiver):
    receiver.script = [410]
    webhook_setup(gemba, receiver)
    heat(gemba, "plant1/line1/cnc-2")
    dead = wait_for(lambda: notification(gemba, "dead"), what="a dead letter")
    assert dead["attempts"] == 1 and "410" in dead["last_error"]
    channel = gemba.call("GET", "/api/v1/notification-channels")[1]["items"][0]
    assert channel["enabled"] is False and "410" in channel["disabled_reason"]


def test_dead_letters_are_replayed_and_hangs_time_out(gemba, receiver):
    receiver.script = ["hang", 500, 500, 500]
    webhook_setup(gemba, receiver)
    heat(gemba, "plant1/line1/cnc-3")
    dead = wait_for(lambda: notification(gemba, "dead"), timeout=30, what="the dead letter after the last retry")
    assert dead["attempts"] == 4
    attempts = gemba.call("GET", f"/api/v1/notifications/{dead['id']}/attempts")[1]["items"]
    assert attempts[0]["status_code"] is None and attempts[0]["error"], "the hanging endpoint timed out"
    status, _ = gemba.call("POST", f"/api/v1/notifications/{dead['id']}/replay")
    assert status == 202
    delivered = wait_for(lambda: notification(gemba, "delivered"), what="the replayed letter")
    assert delivered["message_id"] == dead["message_id"]
    assert receiver.received[-1][1] == dead["message_id"] and receiver.received[-1][3]


def test_an_active_delay_survives_kill_9_and_fires_once(gemba, receiver):
    """Paho sends a hot spindle every 0.25 s; the rule needs 4 s of it. gemba is killed with
    SIGKILL 2 s in and restarted; the alarm must raise once, 4 s after the first hot sample."""
    webhook_setup(gemba, receiver, "spindle_temp > 85 for 4s")
    machine = "plant1/line2/mill-1"
    stop = threading.Event()
    first = {}

    def publish():
        while not stop.is_set():
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"plc-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
            try:
                client.connect("127.0.0.1", gemba.mqtt_port)
            except OSError:
                time.sleep(0.05)
                continue
            client.loop_start()
            try:
                while not stop.is_set() and client.is_connected() or not stop.is_set() and not first:
                    now = int(time.time() * 1000)
                    first.setdefault("ts", now)
                    info = client.publish(f"gemba/v1/{machine}", json.dumps({"ts": now, "values": {"spindle_temp": 95}}), qos=1)
                    info.wait_for_publish(2)
                    time.sleep(0.25)
            except (RuntimeError, ValueError, OSError):
                pass
            finally:
                client.loop_stop()
                client.disconnect()

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    wait_for(lambda: "ts" in first, what="the first hot sample")
    time.sleep(2)
    gemba.kill()
    gemba.start()
    wait_for(lambda: notification(gemba, "delivered"), timeout=30, what="the alarm's webhook")
    time.sleep(2)
    stop.set()
    thread.join(10)
    journal = gemba.call("GET", f"/api/v1/alarms/journal?from={first['ts'] - 60_000}&rule=hot")[1]["items"]
    activations = [entry for entry in journal if entry["kind"] == "activated"]
    assert len(activations) == 1, journal
    assert abs(activations[0]["time"] - (first["ts"] + 4000)) <= 300, (activations[0]["time"] - first["ts"])
    assert len([body for _, _, body, _ in receiver.received if body["type"] == "alarm.activated"]) == 1


def test_a_grouped_policy_sends_one_signed_message_for_a_line_and_retries_it_whole(gemba, receiver):
    """Three machines of one line overheat within the group's wait: one webhook carries all three,
    verified by standardwebhooks; the receiver's 500 makes the whole group retry under one id."""
    webhook_setup(gemba, receiver)
    status, policy = gemba.call("PUT", "/api/v1/notification-policies/all", {
        "name": "All", "channels": ["ops"], "events": ["activated"], "group": {"by": "line", "wait": "2s", "interval": "1m"}})
    assert status == 200, policy
    receiver.script = [500, 200]
    for machine in ["plant1/line7/cnc-1", "plant1/line7/cnc-2", "plant1/line7/cnc-3"]:
        heat(gemba, machine)
    wait_for(lambda: len(receiver.received) >= 2, what="the group, sent and retried")
    first, second = receiver.received[0], receiver.received[1]
    assert first[3] and second[3], "each attempt verifies with standardwebhooks"
    assert first[1] == second[1], "one message id across the retry"
    body = second[2]
    assert body["type"] == "alarm.group" and body["data"]["count"] == 3
    assert sorted(item["data"]["machine"] for item in body["data"]["items"]) == ["plant1/line7/cnc-1", "plant1/line7/cnc-2", "plant1/line7/cnc-3"]

    def all_delivered():
        items = gemba.call("GET", "/api/v1/notifications?status=delivered")[1]["items"]
        return items if len(items) == 3 else None

    delivered = wait_for(all_delivered, what="all three rows delivered")
    assert all(d["attempts"] == 2 for d in delivered)
    assert len(receiver.received) == 2, "one message per attempt, not one per alarm"
