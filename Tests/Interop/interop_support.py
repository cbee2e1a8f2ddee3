"""Helpers the interop tests share: a free loopback port, polling with a deadline, and a
`gemba serve` of the test's own, signed in as its owner."""
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")


_handed_out = set()


def free_port():
    """A TCP port nothing is bound to now, never the same twice in one test run, and below the
    kernel's ephemeral range (32768-60999): a port the kernel hands out (bind to port 0) can be
    taken as the local port of any outgoing connection before the server it was meant for binds
    it, and that server then fails to start."""
    while True:
        port = random.randrange(10000, 32768)
        if port in _handed_out:
            continue
        try:
            with socket.socket() as sock:
                sock.bind(("0.0.0.0", port))
        except OSError:
            continue
        _handed_out.add(port)
        return port


def accepts(port):
    """Whether something listens on the loopback port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Polls `predicate` until it returns something true (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # polling interval; the deadline bounds the wait
    raise AssertionError(f"timed out waiting for {what}")


def log_tail(path, lines=40):
    """The last lines of a server's log, for a failure message."""
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def serving(process, port, log_path):
    """Whether a `gemba serve` answers 200 on `GET /ready`; fails, with the end of its log, once it exited."""
    if process.poll() is not None:
        raise AssertionError(f"gemba serve exited with {process.returncode}:\n{log_tail(log_path)}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until_serving(process, port, log_path, timeout=60.0):
    """Polls `GET /ready` on a `gemba serve`'s HTTP port until it answers 200. Fails at once if the
    process exits, and at the deadline, with the end of its log either way."""
    try:
        wait_for(lambda: serving(process, port, log_path), timeout=timeout, what="gemba serve to be ready")
    except AssertionError as error:
        if process.poll() is None:
            raise AssertionError(f"{error}; its log ends:\n{log_tail(log_path)}") from None
        raise


class API:
    """JSON requests to an HTTP port (a node's or a load balancer's) with a bearer token."""

    def __init__(self, port, token=None):
        self.port, self.token = port, token

    def request(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers,
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.loads(response.read())

    def get(self, path, token=None):
        return self.request("GET", path, token=token)


class GembaServer:
    """`gemba serve` on free ports with its own data directory (log beside it), the owner signed in."""

    def __init__(self, data, password, arguments=()):
        self.data, self.http, self.mqtt = data, free_port(), free_port()
        self.log = open(str(data) + ".log", "a")
        self.process = self.launch(data, password, arguments, self.http, self.mqtt, self.log)
        wait_until_serving(self.process, self.http, self.log.name)
        self.token = None
        self.token = self.request("POST", "/api/v1/auth/login", {"email": "admin@gemba.local", "password": password})["access_token"]

    @staticmethod
    def launch(data, password, arguments, http=None, mqtt=None, log=None):
        """Starts `gemba serve` and returns its process at once, without waiting for it to be ready."""
        log = log or open(str(data) + ".log", "a")
        return subprocess.Popen([GEMBA, "serve", "--data-dir", str(data), "--http-port", str(http or free_port()),
                                 "--mqtt-port", str(mqtt or free_port()), *arguments],
                                env={**os.environ, "GEMBA_ADMIN_PASSWORD": password}, stdout=log, stderr=log)

    def ready(self):
        return serving(self.process, self.http, self.log.name)

    def request(self, method, path, body=None, token=None):
        return API(self.http, self.token).request(method, path, body, token)

    def get(self, path, token=None):
        return self.request("GET", path, token=token)

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.log.close()

    def stop(self):
        """SIGTERM, as a service manager stops it: a graceful shutdown, which must exit 0."""
        if self.process.poll() is None:
            self.process.terminate()
            code = self.process.wait(timeout=30)
            self.log.close()
            assert code == 0, f"gemba serve exited with {code} on SIGTERM; see {self.log.name}"
        self.log.close()


class ThrowawayPostgres:
    """A PostgreSQL 15 server of the test's own (Debian's binaries, initdb in a directory under
    /tmp, which the `postgres` user can reach when the tests run as root) that the test may stop
    and start again; its user `gemba` logs in over TCP with a password."""

    BIN = "/usr/lib/postgresql/15/bin"

    def __init__(self, password, port=None):
        self.directory, self.port = tempfile.mkdtemp(prefix="gemba-pg-"), port or free_port()
        self.url = f"postgres://gemba:{password}@127.0.0.1:{self.port}/postgres?sslmode=disable"
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if self.run_as:
            subprocess.run(["chown", "postgres", self.directory], check=True)
        password_file = os.path.join(self.directory, "pwfile")
        with open(password_file, "w") as file:
            file.write(password + "\n")
        if self.run_as:
            subprocess.run(["chown", "postgres", password_file], check=True)
        subprocess.run([*self.run_as, f"{self.BIN}/initdb", "-D", f"{self.directory}/data", "-U", "gemba", f"--pwfile={password_file}",
                        "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        os.remove(password_file)

    def start(self):
        subprocess.run([*self.run_as, f"{self.BIN}/pg_ctl", "-D", f"{self.directory}/data", "-l", f"{self.directory}/server.log",
                        "-w", "-t", "60", "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)

    def stop(self, mode="fast"):
        if os.path.exists(f"{self.directory}/data/postmaster.pid"):
            subprocess.run([*self.run_as, f"{self.BIN}/pg_ctl", "-D", f"{self.directory}/data", "-m", mode, "-w", "stop"],
                           check=True, capture_output=True)

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Mosquitto:
    """Debian's mosquitto on a free loopback port, anonymous clients allowed, queues unbounded."""

    def __init__(self, directory, port=None):
        self.port = port or free_port()
        config = os.path.join(str(directory), "mosquitto.conf")
        with open(config, "w") as file:
            file.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with open(os.path.join(str(directory), "mosquitto.log"), "w") as log:
            self.process = subprocess.Popen([binary, "-c", config], stdout=log, stderr=log)
        wait_for(lambda: accepts(self.port), what="mosquitto to listen")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class HAProxy:
    """Debian's haproxy on two free loopback ports in front of `gemba serve` nodes' HTTP ports,
    round robin, each node checked on /ready every half second: `port` for the API and `live_port`
    (a backend of its own, so that consecutive WebSocket connections go to consecutive nodes)."""

    def __init__(self, directory, http_ports):
        self.port, self.live_port = free_port(), free_port()
        servers = "\n".join(f"    server node{k} 127.0.0.1:{port} check" for k, port in enumerate(http_ports))
        backend = ("    balance roundrobin\n    option httpchk GET /ready\n    http-check expect status 200\n"
                   "    default-server inter 500ms fall 2 rise 2\n")
        config = os.path.join(str(directory), "haproxy.cfg")
        with open(config, "w") as file:
            file.write(f"""defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 3
    option redispatch
frontend api
    bind 127.0.0.1:{self.port}
    default_backend nodes
frontend live
    bind 127.0.0.1:{self.live_port}
    default_backend live
backend nodes
{backend}{servers}
backend live
{backend}{servers}
""")
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        with open(os.path.join(str(directory), "haproxy.log"), "w") as log:
            self.process = subprocess.Popen([binary, "-db", "-f", config], stdout=log, stderr=log)
        wait_for(lambda: accepts(self.port) and accepts(self.live_port), what="haproxy to listen")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class Publisher:
    """Paho at QoS 1 on a persistent session, one sample (tag `count`, 10 ms apart) per message,
    100 messages a second; tells which messages the broker acknowledged. (Messages published
    while paho is disconnected are queued by paho and sent when it reconnects.)"""

    def __init__(self, port, machine, base, client_id):
        self.machine, self.base, self.running = machine, base, True
        self.numbers, self.acknowledged_ids = {}, []  # message id → number; ids acknowledged (appended by paho's thread)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_publish = lambda client, userdata, mid, reason, properties: self.acknowledged_ids.append(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self.publish, daemon=True)
        self.thread.start()

    def publish(self):
        n = 0
        while self.running:
            payload = json.dumps({"ts": self.base + n * 10, "values": {"count": n}})
            self.numbers[self.client.publish(f"gemba/v1/{self.machine}", payload, qos=1).mid] = n
            n += 1
            time.sleep(0.01)  # the publisher's rate: 100 messages a second

    @property
    def acknowledged(self):
        """The numbers of the messages acknowledged so far."""
        return {self.numbers[mid] for mid in list(self.acknowledged_ids) if mid in self.numbers}

    def finish(self):
        """Stops publishing, waits until the broker acknowledged every message and returns their numbers."""
        self.running = False
        self.thread.join()
        wait_for(lambda: len(self.acknowledged) == len(self.numbers), timeout=90, what="every message acknowledged")
        self.client.loop_stop()
        self.client.disconnect()
        return self.acknowledged


class Poster:
    """HTTP batches of ten samples (tag `count`, 10 ms apart), ten a second, through `server`
    (anything with GembaServer's `request`); remembers which were stored and which refused with
    503 and Retry-After, and any other answer."""

    def __init__(self, server, machine, base):
        self.server, self.machine, self.base = server, machine, base
        self.stored, self.refused, self.unexpected, self.running = set(), 0, [], True
        self.thread = threading.Thread(target=self.post, daemon=True)
        self.thread.start()

    def post(self):
        n = 0
        while self.running:
            records = [{"machine": self.machine, "ts": self.base + (n + k) * 10, "values": {"count": n + k}} for k in range(10)]
            try:
                self.server.request("POST", "/api/v1/ingest", {"records": records})
                self.stored.update(range(n, n + 10))
            except urllib.error.HTTPError as error:
                if error.code == 503 and error.headers["Retry-After"]:
                    self.refused += 1
                else:
                    self.unexpected.append(error.code)
            n += 10
            time.sleep(0.1)  # the poster's rate

    def finish(self):
        self.running = False
        self.thread.join()
        return self.stored
