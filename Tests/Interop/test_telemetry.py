"""Gemba's telemetry pipeline against third-party peers: the official InfluxDB Python clients
(influxdb-client for /api/v2/write with a token and gzip, influxdb for /write), Eclipse Paho
publishing the JSON topic convention, mosquitto as an upstream broker, and the `websockets`
library on the live stream.

Run by scripts/test.sh with GEMBA_HTTP_URL / GEMBA_MQTT_PORT pointing at a running
`gemba serve`, and GEMBA_UPSTREAM_HTTP_URL / MOSQUITTO_PORT at a second one that subscribes
to that mosquitto with --mqtt-upstream.
"""
import asyncio
import gzip
import json
import os
import time
import urllib.error
import urllib.request
import uuid

import influxdb
import influxdb_client
import paho.mqtt.client as mqtt
import pytest
import websockets
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

HTTP = os.environ.get("GEMBA_HTTP_URL", "http://127.0.0.1:8080")
MQTT_PORT = int(os.environ.get("GEMBA_MQTT_PORT", "1883"))
UPSTREAM_HTTP = os.environ.get("GEMBA_UPSTREAM_HTTP_URL")
MOSQUITTO_PORT = int(os.environ.get("MOSQUITTO_PORT", "0"))


ADMIN_EMAIL = os.environ.get("GEMBA_ADMIN_EMAIL", "admin@gemba.local")
ADMIN_PASSWORD = os.environ.get("GEMBA_ADMIN_PASSWORD", "")
_tokens = {}


def token(base=HTTP):
    """An access token of the owner the server created from GEMBA_ADMIN_PASSWORD (signed in once per server)."""
    if base not in _tokens:
        body = json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode()
        request = urllib.request.Request(base + "/api/v1/auth/login", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            _tokens[base] = json.loads(response.read())["access_token"]
    return _tokens[base]


def authorized(headers=None, base=HTTP):
    return {"Authorization": f"Bearer {token(base)}", **(headers or {})}


_keys = {}


def api_key(role="engineer"):
    """A real API key (what Telegraf would be configured with), created through the API."""
    if role not in _keys:
        status, _, body = post("/api/v1/api-keys", json.dumps({"name": f"pytest {role}", "role": role}).encode())
        assert status == 201, body
        _keys[role] = json.loads(body)["key"]
    return _keys[role]


def unique_machine():
    return f"m-{uuid.uuid4().hex[:10]}"


def get(path, base=HTTP):
    request = urllib.request.Request(base + path, headers=authorized(base=base))
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def post(path, body, headers=None):
    headers = headers or {}
    if "Authorization" not in headers:
        headers = authorized(headers)
    request = urllib.request.Request(HTTP + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def latest(machine, base=HTTP):
    values = get(f"/api/v1/latest?machine={machine}", base)["values"]
    return {value["tag"]: value for value in values}


def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except urllib.error.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


# -- InfluxDB v2 client -------------------------------------------------------------------------

def test_influxdb_client_v2_with_token_and_gzip():
    machine = unique_machine()
    now_ms = int(time.time() * 1000)
    with influxdb_client.InfluxDBClient(url=HTTP, token=api_key(), org="acme", enable_gzip=True) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        point = (influxdb_client.Point("modbus").tag("site", "plant1").tag("line", "line7").tag("machine", machine)
                 .tag("host", "gateway-1").field("temperature", 71.25).field("cycles", 42).field("running", True)
                 .field("mode", 'auto "fast"').time(now_ms, write_precision="ms"))
        write.write(bucket="ignored", record=point, write_precision="ms")
        # Line protocol text in another precision, several lines in one request.
        seconds = now_ms // 1000
        write.write(bucket="plant1/line7", record=[f"opcua,machine={machine} speed=1200.5 {seconds}",
                                                   f"opcua,machine={machine} load=0.75 {seconds}"], write_precision="s")
    values = latest(f"plant1/line7/{machine}")
    assert values["modbus.temperature"]["v"] == 71.25
    assert values["modbus.temperature"]["t"] == now_ms
    assert values["modbus.cycles"]["v"] == 42
    assert values["modbus.running"]["v"] is True
    assert values["modbus.mode"]["v"] == 'auto "fast"'
    assert values["opcua.speed"]["t"] == seconds * 1000
    assert values["opcua.load"]["v"] == 0.75
    assert "host" not in values


def test_influxdb_client_v2_reports_bad_lines():
    machine = unique_machine()
    with influxdb_client.InfluxDBClient(url=HTTP, token=api_key(), org="acme") as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        with pytest.raises(ApiException) as raised:
            write.write(bucket="plant1/line7", record=[f"m,machine={machine} ok=1", "m,machine=x bad=NaN", "garbage"])
        assert raised.value.status == 400
        body = json.loads(raised.value.body)
        assert [error["location"] for error in body["errors"]] == ["line 2", "line 3"]
    # The good line was kept.
    assert latest(f"plant1/line7/{machine}")["m.ok"]["v"] == 1.0


# -- InfluxDB v1 client -------------------------------------------------------------------------

def test_influxdb_v1_client_write_points():
    machine = unique_machine()
    client = influxdb.InfluxDBClient(host="127.0.0.1", port=int(HTTP.rsplit(":", 1)[1]), database="plant2/assembly/line1",
                                   username="telegraf", password=api_key())
    now_ms = int(time.time() * 1000)
    assert client.write_points([{"measurement": "snmp", "tags": {"machine": machine}, "time": now_ms,
                                 "fields": {"ifInOctets": 123456789, "up": 1.0}}], time_precision="ms")
    assert client.write([f"s7,machine={machine} pressure=5.5 {now_ms * 1_000_000}"],
                        params={"db": "plant2/assembly/line1"}, protocol="line")
    values = latest(f"plant2/assembly/line1/{machine}")
    assert values["snmp.ifInOctets"]["v"] == 123456789
    assert values["snmp.ifInOctets"]["t"] == now_ms
    assert values["s7.pressure"]["v"] == 5.5


def test_influxdb_v1_client_old_timestamp_is_rejected_with_reason():
    client = influxdb.InfluxDBClient(host="127.0.0.1", port=int(HTTP.rsplit(":", 1)[1]), database="plant2/line1",
                                   username="telegraf", password=api_key())
    with pytest.raises(influxdb.exceptions.InfluxDBClientError) as raised:
        client.write_points([{"measurement": "snmp", "tags": {"machine": "x"}, "time": 1_000_000_000_000,
                              "fields": {"v": 1.0}}], time_precision="ms")
    assert raised.value.code == 400
    assert "older than" in str(raised.value.content)


# -- HTTP JSON batches --------------------------------------------------------------------------

def test_http_batch_with_idempotency_key_and_gzip():
    machine = f"plant1/line1/{unique_machine()}"
    body = json.dumps({"records": [{"machine": machine, "values": {"temp": 20.5, "state": "running"}}]}).encode()
    key = {"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}
    status, _, first = post("/api/v1/ingest", body, key)
    assert status == 200 and json.loads(first)["stored"] == 2
    status, headers, again = post("/api/v1/ingest", body, key)
    assert status == 200 and again == first and headers["Idempotent-Replayed"] == "true"
    status, _, zipped = post("/api/v1/ingest", gzip.compress(body), {"Content-Encoding": "gzip"})
    assert status == 200
    problem_status, problem_headers, problem = post("/api/v1/ingest", b'{"records": [{"machine": "a/b/c", "values": {"x": tru}}]}')
    assert problem_status == 400
    assert problem_headers["Content-Type"] == "application/problem+json"
    assert "byte" in json.loads(problem)["detail"]


# -- MQTT JSON topics with Paho -----------------------------------------------------------------

def paho(port, version=mqtt.MQTTv5, username=None, password=None):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=version)
    if username is not None:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


@pytest.mark.parametrize("version", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_qos1_puback_means_committed(version):
    machine = f"plant1/press-shop/line3/{unique_machine()}"
    client = paho(MQTT_PORT, version)
    try:
        for value in range(20):
            info = client.publish(f"gemba/v1/{machine}", json.dumps({"values": {"spindle_temp": 70 + value}}), qos=1)
            info.wait_for_publish(10)
            # The PUBACK arrived: the sample must already be stored and queryable.
            assert latest(machine)["spindle_temp"]["v"] == 70 + value
        scalar = client.publish(f"gemba/v1/{machine}/state", '"idle"', qos=1)
        scalar.wait_for_publish(10)
        assert latest(machine)["state"]["v"] == "idle"
    finally:
        client.loop_stop()
        client.disconnect()


def test_paho_bad_payloads_do_not_cost_the_connection():
    machine = f"plant1/line3/{unique_machine()}"
    disconnects = []
    client = paho(MQTT_PORT)
    client.on_disconnect = lambda *args: disconnects.append(args)
    try:
        for payload in [b"{not json", b'{"values": {"t": NaN}}', b'{"ts": 1, "values": {"t": 1}}', b"\xff\xfe"]:
            client.publish(f"gemba/v1/{machine}", payload, qos=1).wait_for_publish(10)
        client.publish(f"gemba/v1/{machine}", json.dumps({"values": {"t": 1.5}}), qos=1).wait_for_publish(10)
        assert latest(machine)["t"]["v"] == 1.5
        assert not disconnects
        metrics = urllib.request.urlopen(HTTP + "/metrics", timeout=10).read().decode()
        assert 'gemba_ingest_samples_rejected_total{source="mqtt",reason="malformed"}' in metrics
    finally:
        client.loop_stop()
        client.disconnect()


def test_paho_device_credentials_publish_only_in_their_subtree():
    machine = unique_machine()
    status, _, body = post("/api/v1/devices", json.dumps({"username": f"gw-{machine}", "subtree": "plant4/line1"}).encode())
    assert status == 201, body
    secret = json.loads(body)["secret"]
    acks = {}
    client = paho(MQTT_PORT, mqtt.MQTTv5, f"gw-{machine}", secret)
    client.on_publish = lambda c, userdata, mid, reason, properties: acks.__setitem__(mid, reason)
    try:
        inside = client.publish(f"gemba/v1/plant4/line1/{machine}", json.dumps({"values": {"t": 4.5}}), qos=1)
        outside = client.publish(f"gemba/v1/plant4/line2/{machine}", json.dumps({"values": {"t": 9.5}}), qos=1)
        inside.wait_for_publish(10)
        outside.wait_for_publish(10)
        assert latest(f"plant4/line1/{machine}")["t"]["v"] == 4.5
        assert acks[outside.mid].is_failure and acks[outside.mid].value == 0x87  # Not authorized
        with pytest.raises(urllib.error.HTTPError) as missing:
            latest(f"plant4/line2/{machine}")
        assert missing.value.code == 404
    finally:
        client.loop_stop()
        client.disconnect()
    refused = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    refused.username_pw_set(f"gw-{machine}", "wrong secret")
    with pytest.raises(Exception):
        refused.connect("127.0.0.1", MQTT_PORT)
        refused.loop_start()
        eventually(lambda: refused.is_connected(), timeout=2)
    refused.loop_stop()


def test_http_requires_credentials_and_tells_why():
    request = urllib.request.Request(HTTP + "/api/v1/machines")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 401
    assert raised.value.headers["WWW-Authenticate"].startswith("Bearer")
    assert raised.value.headers["X-Content-Type-Options"] == "nosniff"
    viewer = api_key("viewer")
    status, _, body = post("/api/v1/ingest", b'[{"machine": "a/b/c", "values": {"x": 1}}]', {"Authorization": f"Token {viewer}"})
    assert status == 403, body


# -- mosquitto as the upstream broker -----------------------------------------------------------

@pytest.mark.skipif(not UPSTREAM_HTTP, reason="needs a gemba serve with --mqtt-upstream")
def test_mosquitto_upstream_feeds_gemba():
    machine = f"plant9/line1/{unique_machine()}"
    client = paho(MOSQUITTO_PORT)
    try:
        client.publish(f"gemba/v1/{machine}", json.dumps({"values": {"pressure": 6.25}}), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    values = eventually(lambda: latest(machine, UPSTREAM_HTTP))
    assert values["pressure"]["v"] == 6.25


# -- the live stream with the `websockets` library ----------------------------------------------

def test_websocket_live_stream():
    machine = f"plant1/line5/{unique_machine()}"
    url = HTTP.replace("http://", "ws://") + f"/api/v1/live?machine={machine}"

    async def scenario():
        async with websockets.connect(url + f"&access_token={token()}") as socket:
            # The subscription is registered when the upgrade completes; publish through HTTP.
            for attempt in range(50):
                post("/api/v1/ingest", json.dumps([{"machine": machine, "values": {"speed": 900 + attempt}}]).encode())
                try:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 0.2))
                    return frame
                except asyncio.TimeoutError:
                    continue
            raise AssertionError("no live frame")

    frame = asyncio.run(scenario())
    sample = frame["samples"][0]
    assert sample["machine"] == machine and sample["tag"] == "speed" and sample["v"] >= 900
    assert frame["skipped"] == 0
