"""Helpers the interop tests share: a free loopback port, polling with a deadline, and a
`gemba serve` of the test's own, signed in as its owner."""
import json
import os
import socket
import subprocess
import time
import urllib.request

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


class GembaServer:
    """`gemba serve` on free ports with its own data directory (log beside it), the owner signed in."""

    def __init__(self, data, password, arguments=()):
        self.data, self.http, self.mqtt = data, free_port(), free_port()
        self.log = open(str(data) + ".log", "a")
        self.process = self.launch(data, password, arguments, self.http, self.mqtt, self.log)
        wait_for(self.ready, timeout=60, what="gemba serve to be ready")
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
        if self.process.poll() is not None:
            raise AssertionError(f"gemba serve exited with {self.process.returncode}; see {self.log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def request(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", method=method, headers=headers,
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.loads(response.read())

    def get(self, path, token=None):
        return self.request("GET", path, token=token)

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.log.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()
