"""The OPC UA client against two independent server stacks: asyncua (PyPI `asyncua`) and
open62541 through PyPI `o6`. `gemba edge browse` and `gemba edge read` are checked against what
the servers hold; `gemba edge run` publishes both servers' nodes through Debian's mosquitto into the
`gemba serve --sparkplug-upstream` at GEMBA_UPSTREAM_HTTP_URL, with subscriptions and deadbands,
browse paths, commands written back, a server restart and a server that talks garbage."""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from test_modbus import free_port
from test_sparkplug import command
from test_telemetry import MOSQUITTO_PORT, UPSTREAM_HTTP, eventually, get, latest

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")
HERE = Path(__file__).parent / "opcua"


def listening(port, process, name):
    """Waits (30 s at most) until `port` accepts connections, failing early if `process` ended."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            assert process.poll() is None, f"{name} ended"
            time.sleep(0.1)
    raise RuntimeError(f"{name}: nothing listening on {port}")


def start(script, port, *args):
    process = subprocess.Popen([sys.executable, str(HERE / script), str(port), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return listening(port, process, script)


def stop(process):
    process.kill()
    process.wait()


def gemba(*args, env=None):
    return subprocess.run([GEMBA, "edge", *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def asyncua_server():
    port = free_port()
    process = start("asyncua_server.py", port, "--period", "0.2", "--bulk", "1500")
    yield f"opc.tcp://127.0.0.1:{port}/gemba/", port
    stop(process)


@pytest.fixture(scope="module")
def o6_server():
    port = free_port()
    process = start("o6_server.py", port, "--period", "0.2")
    yield f"opc.tcp://127.0.0.1:{port}", port
    stop(process)


def asyncua_read(url, node):
    from asyncua import Client

    async def read():
        async with Client(url) as client:
            return await client.get_node(node).read_value()
    return asyncio.run(read())


def test_browse_shows_the_tree_with_node_ids_types_and_access_on_both_stacks(asyncua_server, o6_server):
    result = gemba("browse", asyncua_server[0], "--depth", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split() == ["2:Speed", "ns=2;s=Press.Speed", "Variable", "Double", "r-"] for line in lines), result.stdout
    assert any(line.split() == ["2:Setpoint", "ns=2;s=Press.Setpoint", "Variable", "Double", "rw"] for line in lines), result.stdout
    assert any(line.split()[:3] == ["Server", "i=2253", "Object"] for line in lines)
    # 1,500 children: more than one Browse answer, so BrowseNext follows the continuation points.
    bulk = gemba("browse", asyncua_server[0], "--node", "ns=2;s=Bulk", "--depth", "1")
    assert bulk.returncode == 0, bulk.stderr
    assert sum(" ns=2;s=Bulk." in line for line in bulk.stdout.splitlines()) == 1500

    result = gemba("browse", o6_server[0], "--node", "ns=1;s=Press", "--depth", "1")
    assert result.returncode == 0, result.stderr
    assert [line.split() for line in result.stdout.splitlines()[1:]] == [
        ["1:Speed", "ns=1;s=Press.Speed", "Variable", "Double", "r-"],
        ["1:Count", "ns=1;s=Press.Count", "Variable", "UInt32", "r-"],
        ["1:Name", "ns=1;s=Press.Name", "Variable", "String", "r-"],
        ["1:Setpoint", "ns=1;s=Press.Setpoint", "Variable", "Double", "rw"],
        ["1:Level", "ns=1;s=Press.Level", "Variable", "Double", "rw"],
    ]


def test_read_prints_values_status_and_source_time_and_names_unknown_nodes(asyncua_server, o6_server):
    for url, ns, name in [(asyncua_server[0], 2, "Press 3"), (o6_server[0], 1, "Press 7")]:
        before = time.time()
        result = gemba("read", url, "--node", f"ns={ns};s=Press.Name", "--node", f"ns={ns};s=Press.Count", "--node", f"ns={ns};s=Nope")
        assert result.returncode == 0, result.stderr
        rows = [line.split("\t") for line in result.stdout.splitlines()]
        assert rows[0][:3] == [f"ns={ns};s=Press.Name", name, "Good (0x00000000)"], rows
        assert int(rows[1][1]) >= 0 and rows[1][2].startswith("Good")
        count_time = time.mktime(time.strptime(rows[1][3][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert before - 5 < count_time < time.time() + 1, rows  # the source time of a value that changes
        assert rows[2][1:3] == ["null", "BadNodeIdUnknown (0x80340000)"], rows


def test_user_name_sign_in_and_a_wrong_password(tmp_path):
    port = free_port()
    server = start("asyncua_server.py", port, "--user", "operator:s3cret-pass")
    try:
        url = f"opc.tcp://127.0.0.1:{port}/gemba/"
        (tmp_path / "password").write_text("s3cret-pass\n")
        good = gemba("read", url, "--node", "ns=2;s=Press.Name", "--user", "operator", "--password-file", str(tmp_path / "password"))
        assert good.returncode == 0 and "Press 3" in good.stdout, good.stderr
        bad = gemba("read", url, "--node", "ns=2;s=Press.Name", "--user", "operator", env={"GEMBA_OPCUA_PASSWORD": "wrong"})
        assert bad.returncode == 1 and "refused the identity" in bad.stderr, bad
        assert "wrong" not in bad.stderr  # the password is never printed
        anonymous = gemba("read", url, "--node", "ns=2;s=Press.Name")
        assert anonymous.returncode == 1 and "does not accept anonymous" in anonymous.stderr, anonymous
    finally:
        stop(server)


class GarbageServer:
    """A TCP server that answers the Hello with `reply` and then closes."""

    def __init__(self, reply):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.port = self.socket.getsockname()[1]
        self.reply = reply
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            connection.recv(4096)
            connection.sendall(self.reply)
            time.sleep(0.2)
            connection.close()


@pytest.mark.parametrize("reply, message", [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not an OPC UA message type"),
    (b"ACKF\x1c\x00\x00\x00\x00\x00\x00\x00\x00\x10", "the connection closed"),  # cut in the middle
    (b"ACKF\xff\xff\xff\x7f", "more than the"),  # a size past every limit
    (b"ERRF\x17\x00\x00\x00\x00\x00\x80\x80\x07\x00\x00\x00go away", "go away"),
])
def test_a_server_that_talks_garbage_gets_a_clear_error(reply, message):
    server = GarbageServer(reply)
    result = gemba("read", f"opc.tcp://127.0.0.1:{server.port}", "--node", "i=2258", "--timeout", "2")
    assert result.returncode == 1, result
    assert message in result.stderr, result.stderr
    assert "Fatal error" not in result.stderr


CONFIG = """
broker: {{url: "mqtt://127.0.0.1:{broker}"}}
sparkplug: {{group: UA, node: {node}, primaryHost: gemba}}
pki: {pki}
opcua:
  - device: press3
    endpoint: {asyncua}
    securityPolicy: {policy}
    publishingInterval: 100ms
    tags:
      - {{name: speed, node: "ns=2;s=Press.Speed", unit: rpm}}
      - {{name: count, path: "Objects/2:Press/2:Count", type: uint32}}
      - {{name: temperature, node: "ns=2;s=Press.Temperature", type: float, unit: °C, deadband: 0.35}}
      - {{name: running, node: "ns=2;s=Press.Running", type: boolean}}
      - {{name: product, node: "ns=2;s=Press.Name", type: string}}
      - {{name: setpoint, node: "ns=2;s=Press.Setpoint", writable: true}}
      - {{name: missing, path: "Objects/2:Press/2:Nothing"}}
  - device: press7
    endpoint: {o6}
    mode: {o6_mode}
    every: 200ms
    tags:
      - {{name: speed, node: "ns=1;s=Press.Speed"}}
      - {{name: count, node: "ns=1;s=Press.Count", type: uint32}}
      - {{name: setpoint, node: "ns=1;s=Press.Setpoint", writable: true}}
      - {{name: level, node: "ns=1;s=Press.Level", percentDeadband: 10, writable: true}}
"""


@pytest.mark.parametrize("o6_mode", ["subscribe", "poll"])
def test_both_servers_reach_gemba_through_mosquitto_and_commands_reach_them(tmp_path, o6_mode):
    """With o6 subscribed, asyncua is read over Basic256Sha256 SignAndEncrypt; with o6 polled, over None."""
    if not UPSTREAM_HTTP or not MOSQUITTO_PORT:
        pytest.skip("GEMBA_UPSTREAM_HTTP_URL and MOSQUITTO_PORT not set")
    asyncua_port, o6_port = free_port(), free_port()
    secured = o6_mode == "subscribe"
    asyncua_args = ["--period", "0.2"]
    pki = tmp_path / "pki"
    if secured:
        der, key = certificate(tmp_path, "asyncua", "urn:freeopcua:python:server")
        asyncua_args += ["--secure", str(der), str(key), "--also-none"]  # None too: for asyncua's own client below
        (pki / "trusted").mkdir(parents=True)
        (pki / "trusted" / "asyncua.der").write_bytes(der.read_bytes())
    servers = {"asyncua": start("asyncua_server.py", asyncua_port, *asyncua_args), "o6": start("o6_server.py", o6_port, "--period", "0.2")}
    asyncua_url = f"opc.tcp://127.0.0.1:{asyncua_port}/gemba/"
    node = f"ua-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "edge.yaml"
    path.write_text(CONFIG.format(broker=MOSQUITTO_PORT, node=node, asyncua=asyncua_url, o6=f"opc.tcp://127.0.0.1:{o6_port}", o6_mode=o6_mode,
                                  pki=pki, policy="Basic256Sha256" if secured else "None"))
    check = gemba("check", "--config", str(path))
    assert check.returncode == 0 and "press3: opc.tcp://" in check.stdout, check
    log = open(tmp_path / "edge.log", "w+")
    edge = subprocess.Popen([GEMBA, "edge", "run", "--config", str(path), "--log-level", "info"], stderr=log)
    press3, press7 = f"UA/{node}/press3", f"UA/{node}/press7"
    try:
        values = eventually(lambda: (v := latest(press3, UPSTREAM_HTTP)) and "product" in v and "setpoint" in v and v, timeout=30)
        assert values["product"]["v"] == "Press 3" and values["running"]["v"] is True
        assert values["setpoint"]["v"] == pytest.approx(50.0) and values["device.connected"]["v"] is True
        assert all(values[tag]["quality"] == "good" for tag in ["speed", "count", "temperature", "product"]), values
        assert "missing" not in values
        tags = {tag["name"]: tag for tag in get(f"/api/v1/tags?machine={press3}", UPSTREAM_HTTP)["tags"]}
        assert tags["speed"].get("unit") == "rpm" and tags["temperature"].get("unit") == "°C"

        # Every change of the counter arrives, at its source time (sampled by the server, no deadband).
        first = eventually(lambda: latest(press3, UPSTREAM_HTTP)["count"]["v"] > 3 and latest(press3, UPSTREAM_HTTP)["count"]["v"])
        last = eventually(lambda: (v := latest(press3, UPSTREAM_HTTP)["count"])["v"] >= first + 15 and v, timeout=15)
        now = int(time.time() * 1000)
        points = get(f"/api/v1/history?series={press3}/count&from={now - 60000}&to={now + 1000}&points=100000", UPSTREAM_HTTP)
        counted = sorted({int(p["v"]) for p in points["series"][0]["points"]})
        assert counted[-1] >= last["v"] - 1 and set(range(first, last["v"])) <= set(counted), counted
        assert abs(last["t"] - now) < 3000

        # The server's deadband: temperature moves by 0.1 and 0.5 in turn; only the moves beyond 0.35 are reported.
        temps = get(f"/api/v1/history?series={press3}/temperature&from={now - 60000}&to={now + 1000}&points=100000", UPSTREAM_HTTP)
        moves = [b["v"] - a["v"] for a, b in zip(temps["series"][0]["points"], temps["series"][0]["points"][1:])]
        assert moves and all(abs(move) > 0.35 for move in moves), moves

        # Commands through Gemba's API write the node in its own datatype, on both stacks.
        assert command(press3, "setpoint", 61.5)[0] == 202
        eventually(lambda: latest(press3, UPSTREAM_HTTP)["setpoint"]["v"] == pytest.approx(61.5), timeout=10)
        assert asyncua_read(asyncua_url, "ns=2;s=Press.Setpoint") == 61.5
        seven = eventually(lambda: (v := latest(press7, UPSTREAM_HTTP)) and "setpoint" in v and v, timeout=20)
        assert seven["count"]["quality"] == "good" and seven["speed"]["v"] >= 0
        assert command(press7, "setpoint", 12.25)[0] == 202
        eventually(lambda: latest(press7, UPSTREAM_HTTP)["setpoint"]["v"] == pytest.approx(12.25), timeout=10)

        # open62541's percent deadband, 10 % of the EURange 0-200 (asyncua does not implement it): in
        # subscribe mode a move of 10 is held back; a move of 30 is reported in both modes.
        assert command(press7, "level", 10.0)[0] == 202
        time.sleep(1.5)
        held = latest(press7, UPSTREAM_HTTP)["level"]["v"]
        assert held == (0.0 if o6_mode == "subscribe" else 10.0)
        assert command(press7, "level", 30.0)[0] == 202
        eventually(lambda: latest(press7, UPSTREAM_HTTP)["level"]["v"] == 30.0, timeout=10)

        # The server restarts: tags go bad with their last values, then the new session subscribes again.
        stop(servers["asyncua"])
        gone = eventually(lambda: (v := latest(press3, UPSTREAM_HTTP))["speed"]["quality"] == "bad" and v, timeout=20)
        assert gone["device.connected"]["v"] is False and gone["device.last_error"]["v"]
        assert latest(press7, UPSTREAM_HTTP)["count"]["quality"] == "good"  # the other server is not affected
        servers["asyncua"] = start("asyncua_server.py", asyncua_port, *asyncua_args)
        back = eventually(lambda: (v := latest(press3, UPSTREAM_HTTP))["speed"]["quality"] == "good" and v["count"]["v"] > 0 and v, timeout=45)
        assert back["device.connected"]["v"] is True
        assert edge.poll() is None
        text = (tmp_path / "edge.log").read_text()
        assert "OPC UA tag unavailable" in text and "missing" in text, text
    finally:
        edge.terminate()
        edge.wait(timeout=10)
        for server in servers.values():
            stop(server)
    assert edge.returncode == 0


def test_a_broken_opcua_configuration_names_each_line(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text("""broker: mqtt://127.0.0.1:1883
sparkplug: {group: GW, node: gw1}
opcua:
  - device: press3
    endpoint: http://nowhere
    user: someone
    tags:
      - {name: a, node: "ns=2;x=1"}
      - {name: b, path: "Objects/2:P", node: "i=85"}
      - {name: c, node: "i=85", type: complex}
      - {name: d, node: "i=85", type: string, deadband: 1}
  - device: press4
    endpoint: opc.tcp://127.0.0.1:4840
    securityPolicy: Basic999
    tags: []
""")
    result = gemba("check", "--config", str(path))
    assert result.returncode == 2, result
    lines = [int(line.split("edge.yaml:")[1].split(":")[0]) for line in result.stderr.splitlines() if "edge.yaml:" in line]
    assert lines == [5, 6, 8, 9, 10, 11, 14], result.stderr


def certificate(directory, name, uri):
    """A server certificate and key made by openssl (RSA 2048, the application URI in the subjectAltName)."""
    key, pem, der = directory / f"{name}.key.pem", directory / f"{name}.pem", directory / f"{name}.der"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=URI:{uri},DNS:localhost",
                    "-addext", "keyUsage=digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment,keyCertSign",
                    "-addext", "extendedKeyUsage=serverAuth,clientAuth", "-keyout", str(key), "-out", str(pem)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "der", "-out", str(der)], check=True)
    return der, key


POLICIES = [(policy, mode) for policy in ["Basic256Sha256", "Aes128_Sha256_RsaOaep"] for mode in ["Sign", "SignAndEncrypt"]]


def test_secured_channels_on_asyncua_with_a_server_certificate_trusted_by_hand_and_an_encrypted_password(tmp_path):
    der, key = certificate(tmp_path, "asyncua", "urn:freeopcua:python:server")
    port = free_port()
    server = start("asyncua_server.py", port, "--secure", str(der), str(key), "--user", "op:s3cret-pass", "--bulk", "800")
    pki = tmp_path / "pki"
    url = f"opc.tcp://127.0.0.1:{port}/gemba/"
    login = ["--user", "op"]
    env = {"GEMBA_OPCUA_PASSWORD": "s3cret-pass"}
    try:
        # Not trusted yet: refused, named by its thumbprint, and put where an engineer can trust it.
        first = gemba("read", url, "--node", "ns=2;s=Press.Name", "--security-policy", "Basic256Sha256", "--pki", str(pki), *login, env=env)
        assert first.returncode == 1 and "is not trusted" in first.stderr, first
        rejected = list((pki / "rejected").glob("*.der"))
        assert len(rejected) == 1 and rejected[0].stem in first.stderr and str(pki / "trusted") in first.stderr
        assert rejected[0].read_bytes() == der.read_bytes()
        rejected[0].rename(pki / "trusted" / rejected[0].name)
        # The client's own certificate was made on first use, with its application URI.
        own = pki / "own" / "certificate.der"
        text = subprocess.run(["openssl", "x509", "-inform", "der", "-in", str(own), "-noout", "-text"], capture_output=True, text=True).stdout
        assert "URI:urn:gemba:edge" in text and "2048 bit" in text
        assert oct((pki / "own" / "private" / "key.pem").stat().st_mode & 0o777) == "0o600"
        for policy, mode in POLICIES:
            result = gemba("read", url, "--node", "ns=2;s=Press.Name", "--security-policy", policy, "--security-mode", mode,
                           "--pki", str(pki), *login, env=env)
            assert result.returncode == 0 and "Press 3" in result.stdout, (policy, mode, result)
        # A response in many encrypted chunks: 800 references.
        browse = gemba("browse", url, "--node", "ns=2;s=Bulk", "--depth", "1", "--security-policy", "Basic256Sha256", "--pki", str(pki), *login, env=env)
        assert browse.returncode == 0 and browse.stdout.count("ns=2;s=Bulk.") == 800, browse.stderr
        wrong = gemba("read", url, "--node", "i=2258", "--security-policy", "Aes128_Sha256_RsaOaep", "--pki", str(pki), *login,
                      env={"GEMBA_OPCUA_PASSWORD": "guess"})
        assert wrong.returncode == 1 and "refused the identity" in wrong.stderr, wrong
        # Pinning: only the thumbprint given is trusted.
        pinned = gemba("read", url, "--node", "i=2258", "--security-policy", "Basic256Sha256", "--pki", str(pki), *login,
                       "--server-thumbprint", "00" * 20, env=env)
        assert pinned.returncode == 1 and "not the pinned" in pinned.stderr
    finally:
        stop(server)


def test_secured_channels_on_open62541_that_trusts_only_our_client_certificate(tmp_path):
    pki = tmp_path / "pki"
    stranger = tmp_path / "stranger"
    der, key = certificate(tmp_path, "o6", "urn:gemba:test:o6")
    for directory in [pki, stranger]:
        (directory / "trusted").mkdir(parents=True)
        (directory / "trusted" / "o6.der").write_bytes(der.read_bytes())
    # Each client makes its certificate with `gemba edge certificate`, which prints its thumbprint.
    for directory in [pki, stranger]:
        made = gemba("certificate", "--pki", str(directory))
        assert made.returncode == 0 and str(directory / "own" / "certificate.der") in made.stdout, made
        thumbprint = made.stdout.split("thumbprint:")[1].split()[0]
        digest = subprocess.run(["openssl", "x509", "-inform", "der", "-in", str(directory / "own" / "certificate.der"), "-noout",
                                 "-fingerprint", "-sha1"], capture_output=True, text=True).stdout
        assert thumbprint == digest.strip().split("=")[1].replace(":", ""), (made.stdout, digest)
    port = free_port()
    server = start("o6_server.py", port, "--secure", str(der), str(key), "--trust", str(pki / "own" / "certificate.der"))
    url = f"opc.tcp://127.0.0.1:{port}"
    try:
        for policy, mode in POLICIES:
            result = gemba("read", url, "--node", "ns=1;s=Press.Name", "--security-policy", policy, "--security-mode", mode, "--pki", str(pki))
            assert result.returncode == 0 and "Press 7" in result.stdout, (policy, mode, result)
        refused = gemba("read", url, "--node", "ns=1;s=Press.Name", "--security-policy", "Basic256Sha256", "--pki", str(stranger))
        assert refused.returncode == 1 and "refused this client's certificate" in refused.stderr, refused
    finally:
        stop(server)


def run_gateway(tmp_path, devices, top=""):
    """`gemba edge run` on the shared mosquitto with the `opcua:` devices given (YAML), under a new
    edge node; answers the gateway's process and the node's path in Gemba (`UA/<node>`)."""
    node = f"ua-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "edge.yaml"
    path.write_text(f"broker: mqtt://127.0.0.1:{MOSQUITTO_PORT}\nsparkplug: {{group: UA, node: {node}}}\n{top}opcua:\n{devices}")
    edge = subprocess.Popen([GEMBA, "edge", "run", "--config", str(path), "--log-level", "info"], stderr=open(tmp_path / "edge.log", "w"))
    return edge, f"UA/{node}"


def test_the_secure_channel_is_renewed_without_a_gap_or_a_new_session(tmp_path):
    """asyncua grants the lifetime asked for: with 3 s, the gateway renews the channel (new token,
    new keys) every 2.25 s while subscribed over SignAndEncrypt; the counter arrives without a gap
    and the session is never made again."""
    if not UPSTREAM_HTTP or not MOSQUITTO_PORT:
        pytest.skip("GEMBA_UPSTREAM_HTTP_URL and MOSQUITTO_PORT not set")
    der, key = certificate(tmp_path, "asyncua", "urn:freeopcua:python:server")
    port = free_port()
    server = start("asyncua_server.py", port, "--period", "0.2", "--secure", str(der), str(key))
    pki = tmp_path / "pki"
    (pki / "trusted").mkdir(parents=True)
    (pki / "trusted" / "asyncua.der").write_bytes(der.read_bytes())
    edge, node = run_gateway(tmp_path, f"""  - device: press3
    endpoint: opc.tcp://127.0.0.1:{port}/gemba/
    securityPolicy: Aes128_Sha256_RsaOaep
    securityMode: SignAndEncrypt
    channelLifetime: 3s
    publishingInterval: 100ms
    tags:
      - {{name: count, node: "ns=2;s=Press.Count", type: uint32}}
""", top=f"pki: {pki}\n")
    machine = f"{node}/press3"
    try:
        first = eventually(lambda: latest(machine, UPSTREAM_HTTP).get("count", {}).get("v"), timeout=30)
        # 50 ticks of 0.2 s: four renewals at 2.25 s.
        last = eventually(lambda: (v := latest(machine, UPSTREAM_HTTP)["count"]["v"]) >= first + 50 and v, timeout=30)
        now = int(time.time() * 1000)
        points = get(f"/api/v1/history?series={machine}/count&from={now - 60000}&to={now + 1000}&points=100000", UPSTREAM_HTTP)
        counted = sorted({int(p["v"]) for p in points["series"][0]["points"]})
        assert set(range(first, last + 1)) <= set(counted), counted
        text = (tmp_path / "edge.log").read_text()
        assert text.count("OPC UA server connected") == 1, text
        assert "not connected" not in text, text
    finally:
        edge.terminate()
        edge.wait(timeout=10)
        stop(server)


def test_gemba_serve_reads_modbus_and_opcua_devices_itself(tmp_path):
    """`gemba serve --edge-config`: no gateway, no broker; the devices' values go into the pipeline."""
    from pymodbus.client import ModbusTcpClient
    from test_modbus import SERVER
    modbus_port, ua_port, http_port = free_port(), free_port(), free_port()
    modbus = subprocess.Popen([sys.executable, "-c", SERVER, str(modbus_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ua = start("asyncua_server.py", ua_port, "--period", "0.2")
    config = tmp_path / "devices.yaml"
    config.write_text(f"""sparkplug: {{group: plant9, node: line2}}
modbus:
  - device: press1
    host: 127.0.0.1
    port: {modbus_port}
    addressing: zero-based
    every: 200ms
    tags:
      - {{name: setpoint, table: holding-register, address: 20, unit: rpm}}
opcua:
  - device: press3
    endpoint: opc.tcp://127.0.0.1:{ua_port}/gemba/
    publishingInterval: 100ms
    tags:
      - {{name: count, node: "ns=2;s=Press.Count", type: uint32}}
      - {{name: temperature, node: "ns=2;s=Press.Temperature", type: float, unit: °C}}
""")
    serve = subprocess.Popen([GEMBA, "serve", "--mqtt-port", "0", "--http-port", str(http_port), "--data-dir", str(tmp_path / "data"),
                              "--edge-config", str(config), "--log-level", "warning"], stderr=open(tmp_path / "serve.log", "w"))
    base = f"http://127.0.0.1:{http_port}"
    try:
        listening(modbus_port, modbus, "the Modbus server")
        listening(http_port, serve, "gemba serve")
        client = ModbusTcpClient("127.0.0.1", port=modbus_port)
        assert client.connect()
        client.write_registers(20, [1234])
        values = eventually(lambda: (v := latest("plant9/line2/press1", base)).get("setpoint", {}).get("v") == 1234 and v, timeout=30)
        assert values["setpoint"]["quality"] == "good" and values["device.connected"]["v"] is True
        first = eventually(lambda: latest("plant9/line2/press3", base).get("count", {}).get("v"), timeout=30)
        eventually(lambda: latest("plant9/line2/press3", base)["count"]["v"] >= first + 5, timeout=10)
        tags = {tag["name"]: tag for tag in get("/api/v1/tags?machine=plant9/line2/press3", base)["tags"]}
        assert tags["temperature"].get("unit") == "°C"
        client.close()
    finally:
        serve.terminate()
        serve.wait(timeout=15)
        stop(modbus)
        stop(ua)
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()
    # A broken file stops gemba serve before it starts, naming the line.
    config.write_text("sparkplug: {group: plant9, node: line2}\nopcua:\n  - device: press3\n    endpoint: nowhere\n    tags: []\n")
    broken = subprocess.run([GEMBA, "serve", "--mqtt-port", "0", "--http-port", "0", "--data-dir", str(tmp_path / "never"),
                             "--edge-config", str(config)], capture_output=True, text=True, timeout=30)
    assert broken.returncode == 2 and "devices.yaml:4:" in broken.stderr, broken


def test_a_user_certificate_signs_the_session_and_a_stranger_or_a_wrong_key_is_refused(tmp_path):
    der, key = certificate(tmp_path, "asyncua", "urn:freeopcua:python:server")
    user, user_key = certificate(tmp_path, "operator", "urn:gemba:test:operator")
    other, other_key = certificate(tmp_path, "stranger", "urn:gemba:test:stranger")
    port = free_port()
    server = start("asyncua_server.py", port, "--secure", str(der), str(key), "--user-certificate", str(user))
    pki = tmp_path / "pki"
    (pki / "trusted").mkdir(parents=True)
    (pki / "trusted" / "asyncua.der").write_bytes(der.read_bytes())
    url = f"opc.tcp://127.0.0.1:{port}/gemba/"
    read = lambda certificate, key: gemba("read", url, "--node", "ns=2;s=Press.Name", "--security-policy", "Basic256Sha256",
                                          "--pki", str(pki), "--user-certificate", str(certificate), "--user-key", str(key))
    try:
        good = read(user, user_key)
        assert good.returncode == 0 and "Press 3" in good.stdout, good
        for certificate_file, key_file in [(other, other_key), (user, other_key)]:  # not trusted; a key that is not the certificate's
            refused = read(certificate_file, key_file)
            assert refused.returncode == 1 and "refused the identity (user certificate" in refused.stderr, refused
    finally:
        stop(server)


def test_a_server_without_subscriptions_is_polled(tmp_path):
    """asyncua answering CreateSubscription with BadServiceUnsupported: the gateway falls back to reads."""
    if not UPSTREAM_HTTP or not MOSQUITTO_PORT:
        pytest.skip("GEMBA_UPSTREAM_HTTP_URL and MOSQUITTO_PORT not set")
    port = free_port()
    server = start("asyncua_server.py", port, "--period", "0.2", "--no-subscriptions")
    edge, node = run_gateway(tmp_path, f"""  - device: press3
    endpoint: opc.tcp://127.0.0.1:{port}/gemba/
    every: 200ms
    tags:
      - {{name: count, node: "ns=2;s=Press.Count", type: uint32}}
""")
    machine = f"{node}/press3"
    try:
        first = eventually(lambda: latest(machine, UPSTREAM_HTTP).get("count", {}).get("v"), timeout=30)
        eventually(lambda: latest(machine, UPSTREAM_HTTP)["count"]["v"] >= first + 10, timeout=10)
        text = (tmp_path / "edge.log").read_text()
        assert "has no subscriptions: polling" in text, text
    finally:
        edge.terminate()
        edge.wait(timeout=10)
        stop(server)
