"""`gemba edge run --config` end to end: a pymodbus server (PyPI `pymodbus`) is read by the gateway,
which publishes Sparkplug B through Debian's mosquitto to the `gemba serve --sparkplug-upstream` at
GEMBA_UPSTREAM_HTTP_URL. The values the server holds are set with pymodbus's own client, so the
expectations come from the peer: values, units, source times and quality arrive; a command written
through Gemba's API lands in the device's register; a deadband holds back small moves; a device
that goes away turns bad and comes back good. `gemba edge check` reports a broken file by line."""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
from pymodbus.client import ModbusTcpClient

from test_modbus import SERVER, free_port, wait_port
from test_sparkplug import command
from test_telemetry import MOSQUITTO_PORT, UPSTREAM_HTTP, eventually, get, latest

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")

CONFIG = """
broker: {{url: "mqtt://127.0.0.1:{broker}"}}
sparkplug: {{group: GW, node: {node}, primaryHost: gemba}}
modbus:
  - device: press3
    host: 127.0.0.1
    port: {port}
    addressing: {addressing}
    every: 200ms
    timeout: 500ms
    tags:
      - {{name: spindle_temp, {temp}, type: float32, order: CDAB, unit: °C, deadband: 0.5}}
      - {{name: total_count, {count}, type: uint32}}
      - {{name: speed_setpoint, {speed}, type: uint16, scale: 0.1, unit: rpm, writable: true}}
      - {{name: running, {running}}}
      - {{name: door_open, {door}, type: bit3}}
"""

ZERO_BASED = dict(addressing="zero-based", temp="table: holding-register, address: 0", count="table: input-register, address: 10",
                  speed="table: holding-register, address: 20", running="table: discrete-input, address: 3",
                  door="table: holding-register, address: 30")
# The same map in Modicon references (1-based, the table as the first digit).
MODICON = dict(addressing="modicon", temp="reference: 40001", count="reference: 30011", speed="reference: 40021",
               running="reference: 10004", door="reference: 40031")


def start_server(port):
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return process


def stop(process):
    process.kill()
    process.wait()


def registers_of(client, value, kind, word_order="big"):
    return client.convert_to_registers(value, kind, word_order=word_order)


@pytest.fixture
def device():
    port = free_port()
    server = start_server(port)
    client = ModbusTcpClient("127.0.0.1", port=port)
    assert client.connect()
    holder = {"server": server}
    yield port, client, holder
    client.close()
    stop(holder["server"])


def write_config(tmp_path, text):
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("addressing", [ZERO_BASED, MODICON], ids=["zero-based", "modicon"])
def test_modbus_values_reach_gemba_through_mosquitto_and_commands_reach_the_device(tmp_path, device, addressing):
    if not UPSTREAM_HTTP or not MOSQUITTO_PORT:
        pytest.skip("GEMBA_UPSTREAM_HTTP_URL and MOSQUITTO_PORT not set")
    port, client, holder = device
    client.write_registers(0, registers_of(client, 72.25, client.DATATYPE.FLOAT32, "little"))
    client.write_registers(20, [1500])
    client.write_registers(30, [0b1000])
    # Input registers hold (address * 7) % 65536: 70 and 77 make the UINT32 at 10.
    count = (70 << 16) | 77
    node = f"gw-{uuid.uuid4().hex[:8]}"
    config = write_config(tmp_path, CONFIG.format(broker=MOSQUITTO_PORT, node=node, port=port, **addressing))
    check = subprocess.run([GEMBA, "edge", "check", "--config", config], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert "press3" in check.stdout and "5 tag(s)" in check.stdout, check.stdout

    machine = f"GW/{node}/press3"
    started = time.time() * 1000
    edge = subprocess.Popen([GEMBA, "edge", "run", "--config", config, "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    try:
        values = eventually(lambda: (v := latest(machine, UPSTREAM_HTTP)) and "door_open" in v and v, timeout=20)
        assert values["spindle_temp"]["v"] == pytest.approx(72.25)
        assert values["total_count"]["v"] == count
        assert values["speed_setpoint"]["v"] == pytest.approx(150.0)
        assert values["running"]["v"] is True  # discrete input 3: 3 % 3 == 0
        assert values["door_open"]["v"] is True
        assert values["device.connected"]["v"] is True
        assert all(value["quality"] == "good" for value in values.values()), values
        assert started - 1000 <= values["spindle_temp"]["t"] <= time.time() * 1000 + 1000
        tags = {tag["name"]: tag for tag in get(f"/api/v1/tags?machine={machine}", UPSTREAM_HTTP)["tags"]}
        assert tags["spindle_temp"].get("unit") == "°C" and tags["speed_setpoint"].get("unit") == "rpm", tags

        # A command through Gemba's API: a DCMD to the gateway, which writes the scaled register.
        status, body = command(machine, "speed_setpoint", 123.4)
        assert status == 202, body
        eventually(lambda: client.read_holding_registers(20, count=1).registers == [1234], timeout=10)
        eventually(lambda: latest(machine, UPSTREAM_HTTP)["speed_setpoint"]["v"] == pytest.approx(123.4), timeout=10)

        # Report by exception with a deadband of 0.5: a move of 0.25 is held back, one of 1.0 is published.
        client.write_registers(0, registers_of(client, 72.5, client.DATATYPE.FLOAT32, "little"))
        client.write_registers(30, [0])  # a change polled after the small move: once it is seen, the move was polled too
        eventually(lambda: latest(machine, UPSTREAM_HTTP)["door_open"]["v"] is False, timeout=10)
        assert latest(machine, UPSTREAM_HTTP)["spindle_temp"]["v"] == pytest.approx(72.25)
        client.write_registers(0, registers_of(client, 73.5, client.DATATYPE.FLOAT32, "little"))
        eventually(lambda: latest(machine, UPSTREAM_HTTP)["spindle_temp"]["v"] == pytest.approx(73.5), timeout=10)

        # The device goes away: its tags keep their last values with quality bad, and its health says so.
        stop(holder["server"])
        gone = eventually(lambda: (v := latest(machine, UPSTREAM_HTTP))["spindle_temp"]["quality"] == "bad" and v, timeout=15)
        assert gone["spindle_temp"]["v"] == pytest.approx(73.5)
        assert gone["device.connected"]["v"] is False
        assert gone["device.last_error"]["v"], gone
        # It comes back on the same port: the gateway reconnects and the values are good again.
        holder["server"] = start_server(port)
        client.close()
        assert client.connect()
        client.write_registers(0, registers_of(client, 80.0, client.DATATYPE.FLOAT32, "little"))
        back = eventually(lambda: (v := latest(machine, UPSTREAM_HTTP))["spindle_temp"]["v"] == pytest.approx(80.0) and v, timeout=40)
        assert back["spindle_temp"]["quality"] == "good" and back["device.connected"]["v"] is True
        assert edge.poll() is None, "the gateway must survive its device going away"
    finally:
        edge.terminate()
        try:
            edge.wait(timeout=10)
        except subprocess.TimeoutExpired:
            edge.kill()
    assert edge.returncode == 0, edge.stderr.read()


def test_a_broken_configuration_is_refused_with_every_problem_and_its_line(tmp_path):
    config = write_config(tmp_path, """broker: mqtt://127.0.0.1:1883
sparkplug: {group: GW, node: gw1}
modbus:
  - device: press3
    host: 127.0.0.1
    addressing: zero-based
    tags:
      - {name: a, table: holding-register, address: 0, type: float32}
      - {name: b, table: holding-register, address: 1, type: uint16}
      - {name: c, table: input-register, address: 65535, type: uint32}
      - {name: d, table: input-register, address: 3, writable: true}
      - {name: e, table: holding-register, address: 9, type: float99}
""")
    for subcommand in ["check", "run"]:
        result = subprocess.run([GEMBA, "edge", subcommand, "--config", config], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, result
        lines = re.findall(r"edge\.yaml:(\d+):\d+: ", result.stderr)
        assert lines == ["9", "10", "11", "12"], result.stderr
        assert "overlaps 'a'" in result.stderr and "run past address 65535" in result.stderr
        assert "only coils and holding registers can be written" in result.stderr and "'type' must be" in result.stderr


def test_a_changed_file_is_reloaded_without_dropping_the_devices_that_did_not_change(tmp_path, device):
    if not UPSTREAM_HTTP or not MOSQUITTO_PORT:
        pytest.skip("GEMBA_UPSTREAM_HTTP_URL and MOSQUITTO_PORT not set")
    port, client, _ = device
    client.write_registers(40, [11, 22, 33])
    node = f"gw-{uuid.uuid4().hex[:8]}"

    def config(devices):
        listed = "".join(f"""
  - device: {name}
    host: 127.0.0.1
    port: {port}
    addressing: zero-based
    every: 200ms
    tags:
{tags}""" for name, tags in devices)
        return f"broker: mqtt://127.0.0.1:{MOSQUITTO_PORT}\nsparkplug: {{group: GW, node: {node}}}\nmodbus:{listed}"

    a = "      - {name: a, table: holding-register, address: 40}\n"
    b = "      - {name: b, table: holding-register, address: 41}\n"
    path = write_config(tmp_path, config([("kept", a), ("changed", b)]))
    log = open(tmp_path / "edge.log", "w+")
    edge = subprocess.Popen([GEMBA, "edge", "run", "--config", path, "--log-level", "info"], stderr=log, text=True)
    try:
        eventually(lambda: latest(f"GW/{node}/changed", UPSTREAM_HTTP).get("b", {}).get("v") == 22, timeout=20)
        eventually(lambda: latest(f"GW/{node}/kept", UPSTREAM_HTTP).get("a", {}).get("v") == 11, timeout=20)
        # A broken file is reported and ignored: the gateway goes on with the one it has.
        (tmp_path / "edge.yaml").write_text(config([("kept", a), ("changed", "      - {name: b, table: nowhere}\n")]))
        eventually(lambda: "not reloaded" in (tmp_path / "edge.log").read_text(), timeout=10)
        assert "edge.yaml:" in (tmp_path / "edge.log").read_text()
        # Now a valid change: 'changed' gets a second tag, 'added' is new, 'kept' stays as it was.
        c = "      - {name: c, table: holding-register, address: 42, unit: bar}\n"
        (tmp_path / "edge.yaml").write_text(config([("kept", a), ("changed", b + c), ("added", c)]))
        eventually(lambda: latest(f"GW/{node}/changed", UPSTREAM_HTTP).get("c", {}).get("v") == 33, timeout=20)
        eventually(lambda: latest(f"GW/{node}/added", UPSTREAM_HTTP).get("c", {}).get("v") == 33, timeout=20)
        client.write_registers(40, [12])
        eventually(lambda: latest(f"GW/{node}/kept", UPSTREAM_HTTP)["a"]["v"] == 12, timeout=10)
        text = (tmp_path / "edge.log").read_text()
        connections = [line for line in text.splitlines() if "Modbus device connected" in line]
        assert sum("modbus.device=kept" in line for line in connections) == 1, text  # never dropped
        assert sum("modbus.device=changed" in line for line in connections) == 2, text  # restarted once
        # Removing a device ends it: the host marks its tags stale (DDEATH).
        (tmp_path / "edge.yaml").write_text(config([("kept", a), ("changed", b + c)]))
        eventually(lambda: latest(f"GW/{node}/added", UPSTREAM_HTTP)["c"]["quality"] == "bad", timeout=15)
        assert latest(f"GW/{node}/kept", UPSTREAM_HTTP)["a"]["quality"] == "good"
    finally:
        edge.terminate()
        edge.wait(timeout=10)
        log.close()


COUNTING_SERVER = SERVER.replace(
    "asyncio.run(StartAsyncTcpServer(",
    """async def count(port):
    from pymodbus.client import AsyncModbusTcpClient
    await asyncio.sleep(0.3)
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    tick = 0
    while True:  # holding registers 0-19 count up together every PERIOD seconds
        tick += 1
        await client.write_registers(0, [tick] * 20)
        await asyncio.sleep(float(sys.argv[2]))
async def main(port):
    asyncio.get_running_loop().create_task(count(port))
    await StartAsyncTcpServer(""").replace(
    'address=("127.0.0.1", int(sys.argv[1]))))', 'address=("127.0.0.1", port))\nasyncio.run(main(int(sys.argv[1])))')


def history(base, machine, tag, since):
    now = int(time.time() * 1000) + 1000
    body = get(f"/api/v1/history?series={machine}/{tag}&from={since}&to={now}&points=100000", base)
    return [(point["t"], point["v"]) for point in body["series"][0].get("points", [])]


def own_broker_and_host(tmp_path):
    """A mosquitto and a `gemba serve` as its Sparkplug primary host, of this test alone (the shared
    broker must not be killed). Answers the broker's port, a function that starts the broker again
    on it, the broker, the host's base URL and the host."""
    broker_port, http_port = free_port(), free_port()
    start_broker = lambda: subprocess.Popen(["mosquitto", "-p", str(broker_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = start_broker()
    wait_port(broker_port)
    serve = subprocess.Popen([GEMBA, "serve", "--mqtt-port", "0", "--http-port", str(http_port), "--data-dir", str(tmp_path / "data"),
                              "--sparkplug-upstream", f"mqtt://127.0.0.1:{broker_port}", "--log-level", "warning"],
                             stderr=open(tmp_path / "serve.log", "w"))
    wait_port(http_port)
    return broker_port, start_broker, broker, f"http://127.0.0.1:{http_port}", serve


def test_store_and_forward_loses_nothing_across_a_broker_outage_and_a_gateway_kill(tmp_path):
    """Its own mosquitto and `gemba serve` (the shared broker must not be killed): the broker is
    killed for 12 s, and the gateway is killed with SIGKILL and started again while it buffers.
    Every change of the 20 counting registers must arrive at Gemba once, at the time it was read."""
    period = 1.5
    device_port = free_port()
    broker_port, mosquitto, broker, base, serve = own_broker_and_host(tmp_path)
    server = subprocess.Popen([sys.executable, "-c", COUNTING_SERVER, str(device_port), str(period)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(device_port)
    tags = "".join(f"      - {{name: c{r}, table: holding-register, address: {r}}}\n" for r in range(20))
    config = write_config(tmp_path, f"""broker: mqtt://127.0.0.1:{broker_port}
sparkplug: {{group: SF, node: gw, primaryHost: gemba}}
buffer: {{directory: {tmp_path / "buffer"}, window: 5m}}
modbus:
  - device: counter
    host: 127.0.0.1
    port: {device_port}
    addressing: zero-based
    every: 200ms
    tags:
{tags}""")
    start_edge = lambda: subprocess.Popen([GEMBA, "edge", "run", "--config", config, "--log-level", "info"],
                                          stderr=open(tmp_path / "edge.log", "a"))
    edge = start_edge()
    machine = "SF/gw/counter"
    started = int(time.time() * 1000) - 1000
    try:
        first = eventually(lambda: latest(machine, base).get("c0", {}).get("v"), timeout=30)
        broker.kill()
        broker.wait()
        time.sleep(4)
        edge.kill()  # SIGKILL while it buffers
        edge.wait()
        edge = start_edge()
        time.sleep(8)
        broker = mosquitto()
        wait_port(broker_port)
        # The host reconnects (its backoff), the node births and replays; then live data goes on.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            last = latest(machine, base).get("c0", {})
            if last.get("quality") == "good" and last.get("v", 0) >= first + 20 / period + 3:
                break
            time.sleep(0.5)
        server.kill()
        time.sleep(1)
        for r in range(20):
            points = history(base, machine, f"c{r}", started)
            values = [v for _, v in points if isinstance(v, (int, float))]
            good = sorted(set(values))
            assert good == list(range(good[0], good[-1] + 1)), f"c{r}: values missing: {good}"
            times = [t for t, _ in points]
            assert len(times) == len(set(times)), f"c{r}: a time stored twice"
            assert good[-1] - good[0] >= 15, f"c{r}: too short a run: {good}"
        log = (tmp_path / "edge.log").read_text()
        assert log.count("Sparkplug edge node connected") >= 2, log
    finally:
        for process in (edge, server, serve, broker):
            process.kill()
            process.wait()


BENCH_SERVER = str(Path(__file__).resolve().parents[2] / "scripts" / "lib" / "modbus_bench_server.py")


def test_zero_loss_at_5000_values_a_second_across_a_60_s_outage_and_a_gateway_kill(tmp_path):
    """100 devices x 100 registers polled every second, the registers counting up every 2 s (5,000
    changes a second); mosquitto is killed for 60 s and the gateway is killed (SIGKILL) and started
    again 20 s into the outage. Every change of every register must be stored once, at its time.
    The registers stand still while the gateway is down (nothing can read what changes then) and
    until its new run polls them again; births may repeat a value at a later time, and the host's
    stale marks (quality bad) are not changes."""
    device_port = free_port()
    broker_port, mosquitto, broker, base, serve = own_broker_and_host(tmp_path)
    server = subprocess.Popen([sys.executable, BENCH_SERVER, str(device_port), "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(device_port)
    devices, registers = 100, 100
    tags = "".join(f"      - {{name: r{r}, table: holding-register, address: {r}}}\n" for r in range(registers))
    listed = "".join(f"  - device: d{d}\n    host: 127.0.0.1\n    port: {device_port}\n    addressing: zero-based\n    every: 1s\n    tags:\n{tags}"
                     for d in range(devices))
    config = write_config(tmp_path, f"""broker: mqtt://127.0.0.1:{broker_port}
sparkplug: {{group: ZL, node: gw, primaryHost: gemba}}
buffer: {{directory: {tmp_path / "buffer"}, window: 2m, replayRate: 10000}}
modbus:
{listed}""")
    start_edge = lambda: subprocess.Popen([GEMBA, "edge", "run", "--config", config, "--log-level", "info"],
                                          stderr=open(tmp_path / "edge.log", "a"))
    edge = start_edge()
    started = int(time.time() * 1000) - 1000
    try:
        eventually(lambda: all(latest(f"ZL/gw/d{d}", base).get("r99", {}).get("v") for d in (0, devices - 1)), timeout=60)
        time.sleep(4)
        broker.kill()
        broker.wait()
        time.sleep(20)
        server.send_signal(signal.SIGUSR1)  # the registers stand still
        time.sleep(0.3)
        edge.kill()  # SIGKILL while it buffers
        edge.wait()
        edge = start_edge()
        polls = lambda: (tmp_path / "edge.log").read_text().count("Modbus device connected")
        eventually(lambda: polls() >= 2 * devices, timeout=30)
        time.sleep(2)
        server.send_signal(signal.SIGUSR1)
        time.sleep(35)
        broker = mosquitto()
        wait_port(broker_port)
        # The host reconnects, the node births and replays about 60 s x 5,000 values at 10,000 a second.
        resumed = int(time.time() * 1000)
        eventually(lambda: latest("ZL/gw/d0", base).get("r0", {}).get("t", 0) > resumed + 5000, timeout=60)
        time.sleep(45)  # the replay
        server.kill()
        time.sleep(2)
        checked = 0
        for d in range(devices):
            now = int(time.time() * 1000) + 1000
            body = get(f"/api/v1/history?machine=ZL/gw/d{d}&from={started}&to={now}&points=100000", base)
            series = {entry["tag"]: entry.get("points", []) for entry in body["series"]}
            for r in range(registers):
                points = [p for p in series.get(f"r{r}", []) if p.get("quality", "good") == "good"]
                ticks = sorted({int(p["v"]) - r for p in points})
                assert ticks, f"d{d}/r{r}: nothing stored"
                assert ticks == list(range(ticks[0], ticks[-1] + 1)), f"d{d}/r{r}: changes missing: {ticks}"
                times = [p["t"] for p in series.get(f"r{r}", [])]
                assert len(times) == len(set(times)), f"d{d}/r{r}: a time stored twice"
                assert ticks[-1] - ticks[0] >= 40, f"d{d}/r{r}: too short a run: {ticks}"
                checked += len(ticks)
        assert checked >= devices * registers * 40
        log = (tmp_path / "edge.log").read_text()
        assert log.count("Sparkplug edge node connected") >= 2, log
    finally:
        for process in (edge, server, serve, broker):
            process.kill()
            process.wait()
