"""E-mail and MQTT notification channels against peers nobody here wrote: aiosmtpd as the SMTP
server (STARTTLS required, AUTH required and only over TLS, a certificate from a CA the channel
is given), stopped while an alarm is raised and started again; Eclipse Paho subscribed to the
embedded broker, and mosquitto as an external broker, receiving andon messages.
"""
import email
import email.policy
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from test_alarms import Gemba, free_port, heat, wait_for

USER, PASSWORD = "gemba", "correct horse battery staple"


class Mailbox:
    """aiosmtpd on loopback: STARTTLS and AUTH (PLAIN/LOGIN, over TLS only) required, messages kept."""

    def __init__(self, directory):
        self.certificate, key = os.path.join(directory, "smtp.pem"), os.path.join(directory, "smtp.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", self.certificate],
                       check=True, capture_output=True)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.certificate, key)
        self.port = free_port()
        self.messages = []  # (mail from, recipients, parsed message, (authenticated, over TLS))
        self.logins = []
        self.controller = None
        self.start()

    def start(self):
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
                mailbox.messages.append((envelope.mail_from, envelope.rcpt_tos, parsed, (session.authenticated, bool(session.ssl))))
                return "250 Message accepted"

        def authenticate(server, session, envelope, mechanism, auth_data):
            mailbox.logins.append((mechanism, auth_data.login))
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
            return AuthResult(success=ok, handled=False)

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, server_hostname="localhost",
                                     tls_context=self.context, require_starttls=True, authenticator=authenticate,
                                     auth_required=True, auth_require_tls=True, ready_timeout=10)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def ca(self):
        with open(self.certificate) as file:
            return file.read()


@pytest.fixture
def workspace():
    with tempfile.TemporaryDirectory(prefix="gemba-channels-") as directory:
        yield directory


def email_channel(gemba, mailbox, password=PASSWORD, policy=True):
    status, channel = gemba.call("PUT", "/api/v1/notification-channels/mail", {
        "name": "Maintenance mail", "kind": "email", "password": password,
        "email": {"host": "localhost", "port": mailbox.port, "security": "starttls", "username": USER,
                  "from": "alarms@plant.example", "to": ["maintenance@plant.example", "lead@plant.example"],
                  "ca_certificate": mailbox.ca()}})
    assert status == 200, channel
    assert channel["password_set"] is True and "password" not in channel and PASSWORD not in json.dumps(channel)
    if policy:
        status, policy = gemba.call("PUT", "/api/v1/notification-policies/mail", {"name": "Mail", "channels": ["mail"], "events": ["activated"]})
        assert status == 200, policy
    status, rule = gemba.call("PUT", "/api/v1/rules/hot", {"name": "Hot spindle", "severity": "high", "condition": "spindle_temp > 85"})
    assert status == 200, rule


def deliveries(gemba):
    return gemba.call("GET", "/api/v1/notifications")[1]["items"]


def test_alarm_mail_arrives_over_starttls_with_auth(workspace):
    mailbox = Mailbox(workspace)
    gemba = Gemba(os.path.join(workspace, "gemba"))
    try:
        email_channel(gemba, mailbox)
        heat(gemba, "plant1/line1/cnc-1")
        wait_for(lambda: mailbox.messages, what="the alarm mail")
        sender, recipients, message, (authenticated, over_tls) = mailbox.messages[0]
        assert sender == "alarms@plant.example" and recipients == ["maintenance@plant.example", "lead@plant.example"]
        assert authenticated and over_tls, "STARTTLS, then AUTH"
        assert mailbox.logins == [("PLAIN", USER.encode())]
        assert message["Subject"] == "[HIGH] Hot spindle on plant1/line1/cnc-1: activated"
        assert message["Auto-Submitted"] == "auto-generated" and message["Message-ID"].startswith("<msg_")
        body = message.get_content()
        assert "Machine: plant1/line1/cnc-1" in body and "Value: 95" in body and "Threshold: 85" in body
        assert "Open in Gemba: http://localhost:8080/#/machine/plant1/line1/cnc-1" in body
        delivered = wait_for(lambda: [d for d in deliveries(gemba) if d["status"] == "delivered"], what="the delivery to be recorded")
        assert delivered[0]["channel"] == "mail"
        with open(os.path.join(gemba.directory, "serve.log")) as log:
            assert PASSWORD not in log.read(), "the SMTP password never reaches the log"
    finally:
        gemba.stop()
        mailbox.stop()


def test_mail_waits_while_the_server_is_down_and_arrives_when_it_returns(workspace):
    mailbox = Mailbox(workspace)
    gemba = Gemba(os.path.join(workspace, "gemba"), retry_schedule="500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s")
    try:
        email_channel(gemba, mailbox)
        mailbox.stop()
        heat(gemba, "plant1/line1/cnc-2")
        pending = wait_for(lambda: [d for d in deliveries(gemba) if d["status"] == "pending" and d["attempts"] >= 2],
                           what="failed attempts while the server is down")
        assert "connect" in pending[0]["last_error"]
        assert not mailbox.messages
        mailbox.start()
        wait_for(lambda: mailbox.messages, timeout=15, what="the queued mail after the server returns")
        assert mailbox.messages[0][2]["Subject"].endswith("cnc-2: activated")
        assert len(mailbox.messages) == 1, "delivered once"
    finally:
        gemba.stop()
        mailbox.stop()


def test_a_refused_password_is_a_dead_letter_with_the_servers_answer(workspace):
    mailbox = Mailbox(workspace)
    gemba = Gemba(os.path.join(workspace, "gemba"))
    try:
        email_channel(gemba, mailbox, password="wrong")
        heat(gemba, "plant1/line1/cnc-3")
        dead = wait_for(lambda: [d for d in deliveries(gemba) if d["status"] == "dead"], what="a dead letter")
        assert dead[0]["attempts"] == 1 and "535" in dead[0]["last_error"], dead[0]
        assert mailbox.logins and not mailbox.messages
    finally:
        gemba.stop()
        mailbox.stop()


def member(gemba, address, role):
    """Invites `address` and accepts the invitation: a person of the tenant, signed in (their access token)."""
    status, invitation = gemba.call("POST", "/api/v1/invitations", {"email": address, "role": role})
    assert status == 201, invitation
    request = urllib.request.Request(f"http://127.0.0.1:{gemba.http_port}/api/v1/invitations/accept", method="POST",
                                     data=json.dumps({"token": invitation["token"], "password": "a long passphrase 1"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access_token"]


def as_person(gemba, token, method, path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{gemba.http_port}{path}", data=json.dumps(body).encode(), method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_an_unacknowledged_alarm_goes_from_the_person_on_call_to_the_next_step_once_across_a_kill(workspace):
    """The roster's person on call is mailed at their own address; nobody acknowledges, so the
    escalation step mails the lead; Gemba is killed with SIGKILL and restarted; the step is not
    sent again, and the reminder to the person on call still comes at its time."""
    mailbox = Mailbox(workspace)
    gemba = Gemba(os.path.join(workspace, "gemba"))
    try:
        anna = member(gemba, "anna@plant.example", "operator")
        member(gemba, "ben@plant.example", "engineer")
        email_channel(gemba, mailbox, policy=False)
        mine = as_person(gemba, anna, "PUT", "/api/v1/me/notification-preferences",
                         {"channels": ["mail"], "email": "anna.pager@plant.example"})
        assert mine["id"] == "anna@plant.example"
        status, ben = gemba.call("PUT", "/api/v1/notification-people/ben@plant.example", {"channels": ["mail"]})
        assert status == 200, ben
        now = int(time.time() * 1000)
        status, roster = gemba.call("PUT", "/api/v1/notification-rosters/maintenance", {
            "name": "Maintenance", "time_zone": "Europe/Berlin", "people": ["anna@plant.example", "ben@plant.example"],
            "rotation_start": now - 3_600_000, "turn": "7d"})
        assert status == 200 and roster["on_call"] == "anna@plant.example", roster
        status, policy = gemba.call("PUT", "/api/v1/notification-policies/oncall", {
            "name": "On call", "recipients": ["roster:maintenance"], "repeat_every": "8s",
            "escalation": [{"after": "3s", "recipients": ["user:ben@plant.example"]}]})
        assert status == 200, policy
        status, rule = gemba.call("PUT", "/api/v1/rules/hot", {"name": "Hot spindle", "severity": "high", "condition": "spindle_temp > 85"})
        assert status == 200, rule
        heat(gemba, "plant1/line1/cnc-4")

        def mails():
            return [(recipients, message["Subject"], message.get_content()) for _, recipients, message, _ in mailbox.messages]

        wait_for(lambda: any(r == ["ben@plant.example"] for r, _, _ in mails()), what="the escalation mail to the lead")
        first, step = mails()[0], [m for m in mails() if m[0] == ["ben@plant.example"]][0]
        assert first[0] == ["anna.pager@plant.example"] and first[1] == "[HIGH] Hot spindle on plant1/line1/cnc-4: activated"
        assert "escalation: unacknowledged for 3s" in step[1]
        # Delivery is at least once: a mail the server took in the instant before Gemba recorded it
        # goes again after a kill (same Message-ID). Killed once the step is recorded, it must not.
        wait_for(lambda: [d for d in deliveries(gemba) if d["type"] == "alarm.escalation" and d["status"] == "delivered"],
                 what="the escalation step recorded as delivered")
        gemba.kill()
        gemba.start()
        reminder = wait_for(lambda: [m for m in mails() if "reminder" in m[1]], timeout=30, what="the reminder after the restart")
        assert reminder[0][0] == ["anna.pager@plant.example"] and "unacknowledged for 8s" in reminder[0][1]
        assert len([m for m in mails() if m[0] == ["ben@plant.example"]]) == 1, "the step is sent once"
        listed = [d for d in deliveries(gemba) if d["type"] == "alarm.escalation"]
        assert [d["recipient"] for d in listed] == ["ben@plant.example"]
    finally:
        gemba.stop()
        mailbox.stop()


def subscriber(port, topic):
    received = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="andon-light")
    client.on_message = lambda _client, _userdata, message: received.append((message.topic, json.loads(message.payload), message.retain))
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client, received


def andon_channel(gemba, url=None):
    body = {"name": "Andon", "kind": "mqtt", "mqtt": {"topic": "andon/{{machine}}", "qos": 1, "retain": True}}
    if url:
        body["url"] = url
    status, channel = gemba.call("PUT", "/api/v1/notification-channels/andon", body)
    assert status == 200, channel
    status, policy = gemba.call("PUT", "/api/v1/notification-policies/andon",
                                {"name": "Andon", "channels": ["andon"], "events": ["activated", "cleared"]})
    assert status == 200, policy
    status, rule = gemba.call("PUT", "/api/v1/rules/hot", {"name": "Hot spindle", "severity": "critical", "condition": "spindle_temp > 85"})
    assert status == 200, rule


def test_andon_messages_reach_a_paho_subscriber_on_the_embedded_broker(workspace):
    gemba = Gemba(os.path.join(workspace, "gemba"))
    client, received = subscriber(gemba.mqtt_port, "andon/#")
    try:
        andon_channel(gemba)
        heat(gemba, "plant1/line2/press-1")
        wait_for(lambda: received, what="the andon message")
        heat(gemba, "plant1/line2/press-1", value=20.0)
        wait_for(lambda: len(received) >= 2, what="the all-clear")
        (topic, raised, _), (_, cleared, _) = received[:2]
        assert topic == "andon/plant1/line2/press-1"
        assert raised["type"] == "alarm.activated" and raised["data"]["severity"] == "critical"
        assert raised["data"]["state"] == "active_unacknowledged"
        assert cleared["type"] == "alarm.cleared"
        # Retained: a light that connects later sees the latest state.
        late, retained = subscriber(gemba.mqtt_port, "andon/#")
        wait_for(lambda: retained, what="the retained message")
        assert retained[0][1]["type"] == "alarm.cleared" and retained[0][2] is True
        late.loop_stop()
        late.disconnect()
    finally:
        client.loop_stop()
        client.disconnect()
        gemba.stop()


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto")
def test_andon_messages_reach_an_external_mosquitto(workspace):
    port = free_port()
    broker = subprocess.Popen(["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gemba = Gemba(os.path.join(workspace, "gemba"))
    try:
        client, received = wait_for(lambda: _try_subscribe(port), what="mosquitto to accept connections")
        andon_channel(gemba, url=f"mqtt://127.0.0.1:{port}")
        heat(gemba, "plant1/line3/lathe-1")
        wait_for(lambda: received, what="the andon message through mosquitto")
        assert received[0][0] == "andon/plant1/line3/lathe-1" and received[0][1]["type"] == "alarm.activated"
        client.loop_stop()
        client.disconnect()
    finally:
        gemba.stop()
        broker.terminate()
        broker.wait()


def _try_subscribe(port):
    try:
        return subscriber(port, "andon/#")
    except OSError:
        return None
