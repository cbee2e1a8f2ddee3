"""`gemba edge read` against two independent Modbus TCP servers: pymodbus's (PyPI `pymodbus`) and
a small C server on Debian's libmodbus (`modbus/libmodbus_server.c`, compiled here): holding and
input registers, coils and discrete inputs, FLOAT32 in all four word orders, a Modicon
reference, exceptions, a device that never answers and one that answers garbage. Values the
pymodbus server holds are written or read back with pymodbus's own client, so the expectations
come from the peer."""

import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from pymodbus.client import ModbusTcpClient

from interop_support import accepts, free_port, wait_for

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")

SERVER = textwrap.dedent("""
    import asyncio, sys
    from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
    from pymodbus.server import StartAsyncTcpServer
    block = lambda values: ModbusSequentialDataBlock(1, values)  # pymodbus counts blocks from 1: this is protocol address 0
    device = ModbusDeviceContext(co=block([False] * 300), di=block([i % 3 == 0 for i in range(300)]),
                                 hr=block([0] * 300), ir=block([(i * 7) % 65536 for i in range(300)]))
    asyncio.run(StartAsyncTcpServer(context=ModbusServerContext(devices=device, single=True), address=("127.0.0.1", int(sys.argv[1]))))
""")


def wait_port(port):
    wait_for(lambda: accepts(port), timeout=10, what=f"something listening on {port}")


@pytest.fixture(scope="module")
def server():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        client = ModbusTcpClient("127.0.0.1", port=port)
        assert client.connect()
        yield port, client
        client.close()
    finally:
        process.kill()
        process.wait()


def read(port, *arguments, check=True):
    result = subprocess.run([GEMBA, "edge", "read", f"modbus://127.0.0.1:{port}", *arguments],
                            capture_output=True, text=True, timeout=30)
    if check:
        assert result.returncode == 0, result.stderr
        return [line.split("\t") for line in result.stdout.splitlines()]
    return result


def swap_bytes(registers):
    return [((r & 0xFF) << 8) | (r >> 8) for r in registers]


def test_float32_in_every_word_order(server):
    port, client = server
    big = client.convert_to_registers(123.456, client.DATATYPE.FLOAT32, word_order="big")
    little = client.convert_to_registers(123.456, client.DATATYPE.FLOAT32, word_order="little")
    layouts = {"ABCD": big, "CDAB": little, "BADC": swap_bytes(big), "DCBA": swap_bytes(little)}
    for index, (order, registers) in enumerate(layouts.items()):
        assert not client.write_registers(10 * index, registers).isError()
        rows = read(port, "--table", "holding-register", "--address", str(10 * index), "--type", "float32", "--order", order)
        assert rows[0][0] == str(10 * index) and abs(float(rows[0][1]) - 123.456) < 1e-4, (order, rows)


def test_integers_strings_scaling_and_a_modicon_reference(server):
    port, client = server
    assert not client.write_registers(100, client.convert_to_registers(-2, client.DATATYPE.INT16)).isError()
    assert not client.write_registers(101, client.convert_to_registers(4_000_000_000, client.DATATYPE.UINT32)).isError()
    assert not client.write_registers(103, client.convert_to_registers("PRESS-7 ", client.DATATYPE.STRING)).isError()
    assert read(port, "--table", "holding-register", "--address", "100", "--type", "int16") == [["100", "-2"]]
    assert read(port, "--reference", "400102", "--type", "uint32") == [["101", "4000000000"]]
    assert read(port, "--reference", "40104", "--type", "string4") == [["103", "PRESS-7"]]
    # Tenths of a degree: 215 → 21.5.
    assert not client.write_register(110, 215).isError()
    assert read(port, "--reference", "40111", "--type", "int16", "--scale", "0.1") == [["110", "21.5"]]


def test_input_registers_coils_and_discrete_inputs_as_pymodbus_reads_them(server):
    port, client = server
    expected = client.read_input_registers(20, count=125).registers + client.read_input_registers(145, count=5).registers
    rows = read(port, "--table", "input-register", "--address", "20", "--count", "130")  # two requests: 125 is the limit
    assert [int(value) for _, value in rows] == expected
    assert not client.write_coils(5, [True, False, True, True, False, False, False, True, True]).isError()
    coils = client.read_coils(5, count=9).bits[:9]
    assert [value == "true" for _, value in read(port, "--table", "coil", "--address", "5", "--count", "9")] == coils
    inputs = client.read_discrete_inputs(0, count=20).bits[:20]
    assert [value == "true" for _, value in read(port, "--reference", "10001", "--count", "20")] == inputs


def test_an_exception_is_reported_by_name(server):
    port, client = server
    assert client.read_holding_registers(5000, count=1).exception_code == 2
    result = read(port, "--table", "holding-register", "--address", "5000", check=False)
    assert result.returncode != 0 and "exception 2 (illegal data address)" in result.stderr, result.stderr


def fake_device(reply):
    """A TCP server that answers every request with `reply` (None: never answers)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                while connection.recv(260):
                    if reply is not None:
                        connection.sendall(reply)
    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_a_device_that_never_answers_times_out_and_garbage_is_refused():
    silent = fake_device(None)
    started = time.monotonic()
    result = read(silent.getsockname()[1], "--reference", "40001", "--timeout", "0.5", check=False)
    assert result.returncode != 0 and "no answer within the timeout" in result.stderr, result.stderr
    assert time.monotonic() - started < 10
    silent.close()
    garbage = fake_device(struct.pack(">HHHB", 1, 0x1234, 5, 1) + b"junk")
    result = read(garbage.getsockname()[1], "--reference", "40001", check=False)
    assert result.returncode != 0 and "malformed" in result.stderr and "protocol id 4660" in result.stderr, result.stderr
    garbage.close()


@pytest.fixture(scope="module")
def libmodbus_server(tmp_path_factory):
    source = os.path.join(os.path.dirname(__file__), "modbus", "libmodbus_server.c")
    binary = str(tmp_path_factory.mktemp("libmodbus") / "libmodbus_server")
    subprocess.run(["cc", "-O1", "-o", binary, source, "-lmodbus"], check=True)
    port = free_port()
    process = subprocess.Popen([binary, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"listening\n"
        yield port
    finally:
        process.kill()
        process.wait()


def test_libmodbus_word_orders_tables_and_exception(libmodbus_server):
    port = libmodbus_server
    for address, order in [(0, "ABCD"), (10, "CDAB"), (20, "BADC"), (30, "DCBA")]:
        rows = read(port, "--table", "holding-register", "--address", str(address), "--type", "float32", "--order", order)
        assert abs(float(rows[0][1]) - 123.456) < 1e-4, (order, rows)
    assert [int(v) for _, v in read(port, "--reference", "30006", "--count", "3")] == [16, 19, 22]
    assert [v == "true" for _, v in read(port, "--table", "coil", "--address", "0", "--count", "9")] == [i % 4 == 1 for i in range(9)]
    assert [v == "true" for _, v in read(port, "--table", "discrete-input", "--address", "195", "--count", "5")] == [i % 5 == 0 for i in range(195, 200)]
    result = read(port, "--table", "input-register", "--address", "199", "--count", "2", check=False)
    assert result.returncode != 0 and "exception 2 (illegal data address)" in result.stderr, result.stderr


def test_polling_goes_on_across_a_server_restart():
    """`--every`: the poller reads on its interval, reports the reads that fail while the server is
    away and reconnects by itself once it is back."""
    port = free_port()
    start = lambda: subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = start()
    wait_port(port)
    expected = ModbusTcpClient("127.0.0.1", port=port)
    assert expected.connect()
    values = [str(v) for v in expected.read_input_registers(0, count=2).registers]
    expected.close()
    watcher = subprocess.Popen([GEMBA, "edge", "read", f"modbus://127.0.0.1:{port}", "--reference", "30001", "--count", "2",
                                "--every", "0.3", "--polls", "14", "--timeout", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read_until(predicate):
        while not predicate():
            line = watcher.stdout.readline()
            assert line, "the watcher stopped early: " + "".join(lines)
            lines.append(line)
    try:
        read_until(lambda: len(lines) >= 4)  # two polls read
        server.kill()
        server.wait()
        read_until(lambda: "error: not connected" in lines[-1])
        server = start()
        output, errors = watcher.communicate(timeout=60)
        output = "".join(lines) + output
    finally:
        watcher.kill()
        server.kill()
        server.wait()
    assert watcher.returncode == 0, errors
    polls = {}
    for line in output.splitlines():
        time_text, address, value = line.split("\t")
        polls.setdefault(time_text, []).append(value)
    rounds = list(polls.values())
    assert len(rounds) == 14, output
    good = [r == values for r in rounds]
    failed = [i for i, r in enumerate(rounds) if all(v.startswith("error: not connected") for v in r)]
    assert good[0] and good[-1], output                     # read before the restart, and again after it
    assert failed and not good[failed[0]], output           # the reads while it was away are reported as such
    assert all(good[failed[-1] + 1:]), output               # once reconnected, every poll reads again
