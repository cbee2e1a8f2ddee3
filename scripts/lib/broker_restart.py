"""Restart of an MQTT broker holding many retained messages and persistent sessions, measured from
outside with raw MQTT 3.1.1 sockets (so the client's cost is not the broker's).

    python3 broker_restart.py fill    PORT RETAINED SESSIONS
    python3 broker_restart.py serving PORT SESSIONS      # polls from now until the broker serves

`fill` publishes RETAINED retained messages (64-byte payloads, topics `retained/<n>`) on one
connection, then opens SESSIONS persistent sessions (clean session 0, client ids `s-<n>`), each
subscribing to `sessions/<n>/#` at QoS 1, and closes them. `serving` waits until a new client
gets a retained message for a subscription and a persistent session resumes with its session
present, and prints the seconds that took as JSON.
"""
import json
import socket
import struct
import sys
import time


def remaining(length):
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def text(value):
    data = value.encode()
    return struct.pack(">H", len(data)) + data


def connect(client_id, clean=True):
    body = text("MQTT") + bytes([4, 0x02 if clean else 0x00]) + struct.pack(">H", 0) + text(client_id)
    return bytes([0x10]) + remaining(len(body)) + body


def subscribe(packet_id, topic, qos):
    body = struct.pack(">H", packet_id) + text(topic) + bytes([qos])
    return bytes([0x82]) + remaining(len(body)) + body


def publish(topic, payload, retain):
    body = text(topic) + payload
    return bytes([0x30 | (1 if retain else 0)]) + remaining(len(body)) + body


def read_packet(sock):
    header = sock.recv(1)
    if not header:
        raise ConnectionError("closed")
    length, shift = 0, 0
    while True:
        byte = sock.recv(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return header[0], body


def open_session(port, client_id, clean=True):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect(client_id, clean))
    kind, body = read_packet(sock)
    assert kind == 0x20 and body[1] == 0, f"CONNACK refused: {body!r}"
    return sock, bool(body[0] & 1)


def fill(port, retained, sessions):
    sock, _ = open_session(port, "filler")
    payload = b"x" * 64
    batch = bytearray()
    for index in range(retained):
        batch += publish(f"retained/{index}", payload, retain=True)
        if len(batch) > 1 << 20:
            sock.sendall(batch)
            batch.clear()
    sock.sendall(batch)
    # A subscription round trip after the last publish: the broker has routed everything before it.
    sock.sendall(subscribe(1, "fill/done", 0))
    while read_packet(sock)[0] != 0x90:
        pass
    sock.close()
    for index in range(sessions):
        session, _ = open_session(port, f"s-{index}", clean=False)
        session.sendall(subscribe(1, f"sessions/{index}/#", 1))
        while read_packet(session)[0] != 0x90:
            pass
        session.close()
    print(json.dumps({"retained": retained, "sessions": sessions}))


def serving(port, sessions):
    started = time.monotonic()
    while True:
        if time.monotonic() - started > 120:
            raise SystemExit("the broker did not serve its saved state within 120 s")
        try:
            sock, _ = open_session(port, "probe")
            sock.sendall(subscribe(1, f"retained/{retained_probe}", 0))
            got_suback = got_retained = False
            while not (got_suback and got_retained):
                kind, _ = read_packet(sock)
                got_suback |= kind == 0x90
                got_retained |= kind >> 4 == 3
            sock.close()
            resumed, present = open_session(port, f"s-{sessions - 1}", clean=False)
            resumed.close()
            assert present, "the persistent session was not restored"
            break
        except (ConnectionError, OSError):
            time.sleep(0.01)
    print(json.dumps({"serving_seconds": round(time.monotonic() - started, 3)}))


retained_probe = 0
if __name__ == "__main__":
    command, port = sys.argv[1], int(sys.argv[2])
    if command == "fill":
        fill(port, int(sys.argv[3]), int(sys.argv[4]))
    else:
        serving(port, int(sys.argv[3]))
