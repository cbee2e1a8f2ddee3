"""A PostgreSQL-backed node when its database is not there: at start (the HTTP port answers,
alive but not ready, until the database comes) and for 30 s under load (ingest pushes back,
readiness says so, and once the database is back nothing acknowledged is missing).

The database is a server of the test's own (Debian's PostgreSQL 15), stopped and started with
`pg_ctl`; Eclipse Paho publishes QoS 1 and HTTP clients post batches throughout.
"""
import json
import os
import time
import urllib.error
import urllib.request

import pytest

from interop_support import GembaServer, Poster, Publisher, ThrowawayPostgres, free_port, wait_for

PASSWORD = "postgres-Secret-123456"
pytestmark = pytest.mark.skipif(not os.path.exists(ThrowawayPostgres.BIN), reason="Debian's postgresql-15 is not installed")


def probe(port, path):
    """The status and body of a GET on the node's HTTP port ((None, None) while nothing listens)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except OSError:
        return None, None


def counts(server, machine, base, to):
    body = server.get(f"/api/v1/history?machine={machine}&tag=count&from={base}&to={to}&points=100000")
    return {int(point["v"]) for point in body["series"][0]["points"]} if body["series"] else set()


def test_a_node_waits_for_its_database_and_survives_an_outage_under_load(tmp_path):
    database = ThrowawayPostgres(PASSWORD)
    http = free_port()
    node = None
    try:
        # Started before its database: alive, not ready, every other path 503 — until the database comes.
        node = GembaServer.launch(tmp_path / "a", PASSWORD, ["--storage", database.url, "--mqtt-allow-anonymous"], http=http)
        assert wait_for(lambda: probe(http, "/health")[0], timeout=60, what="the HTTP port") == 200
        assert probe(http, "/ready") == (503, {"status": "not ready", "checks": {"storage": "failing"}})
        assert probe(http, "/api/v1/machines")[0] == 503
        database.start()
        wait_for(lambda: probe(http, "/ready")[0] == 200, timeout=60, what="readiness once the database is up")
        assert node.poll() is None
        node.kill()
        node.wait()

        server = GembaServer(tmp_path / "a", PASSWORD, ["--storage", database.url, "--mqtt-allow-anonymous"])
        node = server.process
        base = (int(time.time()) - 3000) * 1000
        publisher = Publisher(server.mqtt, "outage/line1/m1", base, client_id="outage-plc")
        poster = Poster(server, "outage/line1/m2", base)
        wait_for(lambda: len(publisher.acknowledged) > 200, what="ingest under way")

        database.stop()
        wait_for(lambda: probe(server.http, "/ready")[0] == 503, timeout=30, what="readiness to report the outage")
        assert probe(server.http, "/ready")[1]["checks"]["storage"] == "failing"
        outage = time.monotonic()
        while time.monotonic() - outage < 30:  # the outage the issue asks for: 30 s under load
            assert server.process.poll() is None and probe(server.http, "/health")[0] == 200
            time.sleep(1)  # how often the node is looked at during the outage
        database.start()
        wait_for(lambda: server.ready(), timeout=60, what="readiness after the outage")
        during = len(publisher.acknowledged)
        wait_for(lambda: len(publisher.acknowledged) > during + 200, timeout=60, what="ingest to resume")

        acknowledged, stored = publisher.finish(), poster.finish()
        assert poster.refused > 0 and poster.unexpected == []  # HTTP ingest pushed back during the outage, with 503s only
        now = int(time.time() * 1000)
        assert counts(server, "outage/line1/m1", base, now) >= acknowledged  # every acknowledged message is stored
        assert counts(server, "outage/line1/m2", base, now) >= stored
        server.stop()
    finally:
        if node is not None and node.poll() is None:
            node.kill()
        database.remove()
