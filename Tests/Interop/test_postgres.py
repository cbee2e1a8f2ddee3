"""`gemba serve --storage postgres://…` against Debian's PostgreSQL 15 (started by scripts/test.sh,
which sets GEMBA_TEST_POSTGRES), with Eclipse Paho publishing QoS 1 and `psql` looking inside.

- The whole platform runs on PostgreSQL: MQTT and HTTP ingest, history and latest values, the
  catalogue, users and API keys (made by `gemba admin --storage`), the audit log.
- A `kill -9` loses no acknowledged sample; a restart with another data directory finds it all.
- Two nodes started together on one database migrate once and answer for each other's data.
- A database that is not there is waited for, then reported in one line (exit 2).
- Three nodes behind haproxy take an upstream mosquitto's stream as one MQTT 5 share group; a
  `kill -9` of the one running the singleton jobs under load loses no acknowledged sample, its
  jobs move, and a WebSocket client it served reconnects through haproxy and carries on. Live
  clients on every node see the samples one node ingests (relayed through mosquitto).
"""
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import paho.mqtt.client as mqtt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from interop_support import GEMBA, API, GembaServer, HAProxy, Mosquitto, Poster, Publisher, free_port, wait_for

PASSWORD = "postgres-Secret-123456"
ADMIN_URL = os.environ.get("GEMBA_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(ADMIN_URL is None, reason="GEMBA_TEST_POSTGRES is not set (scripts/test.sh sets it)")


def psql(database, sql):
    url = ADMIN_URL.split("?")[0].rsplit("/", 1)[0] + "/" + database
    return subprocess.run(["psql", url, "-At", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def storage():
    """A new database; its storage URL."""
    name = "interop_" + uuid.uuid4().hex[:12]
    psql("postgres", f"CREATE DATABASE {name}")
    return ADMIN_URL.replace("/postgres?", f"/{name}?"), name


def publish(port, machine, base, count):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"plc-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(f"gemba/v1/{machine}", json.dumps({"ts": base + n * 1000, "values": {"temp": 20 + n / 10}}), qos=1)
             for n in range(count)]
    for info in infos:
        info.wait_for_publish(timeout=20)
    client.loop_stop()
    client.disconnect()


def history(server, machine, base, count, token=None):
    body = server.get(f"/api/v1/history?machine={machine}&tag=temp&from={base}&to={base + count * 1000}&points=100000", token=token)
    return [point["v"] for point in body["series"][0]["points"]] if body["series"] else []


def test_the_platform_runs_on_postgres(tmp_path, storage):
    url, name = storage
    server = GembaServer(tmp_path / "a", PASSWORD, ["--storage", url, "--mqtt-allow-anonymous"])
    base = (int(time.time()) - 3600) * 1000
    try:
        publish(server.mqtt, "pg/line1/m1", base, 200)
        server.request("POST", "/api/v1/ingest", {"records": [{"machine": "pg/line1/m2", "ts": base, "values": {"temp": 7.5}}]})
        wait_for(lambda: len(history(server, "pg/line1/m1", base, 200)) == 200, what="200 samples in the history")
        latest = server.get("/api/v1/latest?machine=pg/line1/m2")
        assert json.dumps(latest).count("7.5") == 1
        # Inside PostgreSQL: the samples in a day partition, the owner and the audit log.
        assert int(psql(name, "SELECT count(*) FROM sample")) >= 201
        assert psql(name, "SELECT count(*) FROM sample_partition") != "0"
        assert psql(name, "SELECT email FROM app_user") == "admin@gemba.local"
        assert int(psql(name, "SELECT count(*) FROM audit WHERE action LIKE 'auth.%'")) >= 1
        # An API key made by `gemba admin` on the same database works on the running server.
        key = subprocess.run([GEMBA, "admin", "api-key", "create", "--storage", url, "--data-dir", str(tmp_path / "admin"),
                              "--name", "grafana", "--role", "viewer"], check=True, capture_output=True, text=True).stdout.strip()
        assert len(history(server, "pg/line1/m1", base, 200, token=key)) == 200
        server.kill()  # kill -9: every acknowledged sample is committed
        again = GembaServer(tmp_path / "b", PASSWORD, ["--storage", url])
        try:
            assert history(again, "pg/line1/m1", base, 200, token=key) == history(again, "pg/line1/m1", base, 200)
            assert len(history(again, "pg/line1/m1", base, 200)) == 200
        finally:
            again.stop()
    finally:
        if server.process.poll() is None:
            server.stop()


def leads(port):
    """Whether the node on this HTTP port runs the singleton jobs (its metric says so)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return re.search(r"^gemba_singleton_jobs_leader 1", response.read().decode(), re.MULTILINE) is not None
    except OSError:
        return False


def test_two_nodes_share_one_database(tmp_path, storage):
    url, name = storage
    # Started together: the migrations run once, under an advisory lock.
    first_http = free_port()
    first = GembaServer.launch(tmp_path / "a", PASSWORD, ["--storage", url, "--mqtt-allow-anonymous"], http=first_http)
    second = GembaServer(tmp_path / "b", PASSWORD, ["--storage", url, "--mqtt-allow-anonymous"])
    try:
        assert first.poll() is None
        assert psql(name, "SELECT count(*) FROM gemba_migration") == psql(name, "SELECT count(DISTINCT id) FROM gemba_migration")
        base = (int(time.time()) - 600) * 1000
        publish(second.mqtt, "pg/line2/m3", base, 50)
        # Node A (its own process, its own data directory) answers with what node B stored.
        third = GembaServer(tmp_path / "c", PASSWORD, ["--storage", url])
        try:
            assert len(history(third, "pg/line2/m3", base, 50)) == 50
            assert "pg/line2/m3" in json.dumps(third.get("/api/v1/machines"))
        finally:
            third.stop()
        # One of the two runs the singleton jobs; killed, the other takes them over within 30 s.
        wait_for(lambda: leads(first_http) != leads(second.http), timeout=30, what="one leader")
        if leads(first_http):
            first.kill()
            first.wait()
            wait_for(lambda: leads(second.http), timeout=30, what="the second node to take over")
        else:
            second.kill()
            wait_for(lambda: leads(first_http), timeout=30, what="the first node to take over")
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        if second.process.poll() is None:
            second.stop()


def shift_of_a_press(server, machine, start, minutes=range(480), state="producing"):
    """A press's records, one a minute, through one node's HTTP ingest (acknowledged once committed)."""
    records = [{"machine": machine, "ts": start + minute * 60_000,
                "values": {"state": state, "total_count": 3 * minute, "good_count": 3 * minute}} for minute in minutes]
    for first in range(0, len(records), 120):
        server.request("POST", "/api/v1/ingest", records[first:first + 120])


def components(server, machine, day):
    return server.get(f"/api/v1/oee?asset={machine}&from={day}&to={day + 86_400_000}")["total"]["components"]


def test_two_nodes_follow_each_others_oee_changes(tmp_path, storage):
    """What one node changes, the other's OEE follows at once (the change feed, PostgreSQL
    LISTEN/NOTIFY): a shift calendar set through node A counts on node B, which had read the site
    without one; a late sample node B takes corrects summaries node A stored."""
    url, _ = storage
    a = GembaServer(tmp_path / "a", PASSWORD, ["--storage", url])
    b = GembaServer(tmp_path / "b", PASSWORD, ["--storage", url])
    try:
        day = (int(time.time()) // 86_400 - 2) * 86_400_000
        calendar_press, late_press = "nodes/line1/press", "late/line1/press"
        shift_of_a_press(a, calendar_press, day + 6 * 3_600_000)
        # The late press sent nothing for an hour (its state unknown then); that hour comes late.
        shift_of_a_press(a, late_press, day + 6 * 3_600_000, minutes=[m for m in range(480) if not 200 <= m < 260])

        # Round the clock, node B reads the site's (missing) calendar and caches it.
        by_shift = f"/api/v1/oee?asset={calendar_press}&from={day}&to={day + 86_400_000}&period=shift"
        round_the_clock = b.get(by_shift)
        a.request("PUT", "/api/v1/calendars/nodes", {"timeZone": "UTC", "exceptions": [], "patterns": [
            {"name": "A", "weekdays": list(range(1, 8)), "start": "06:00", "end": "14:00", "breaks": []}]})
        on_a = a.get(by_shift)
        assert [period["label"] for period in on_a["periods"]] != [period["label"] for period in round_the_clock["periods"]]
        wait_for(lambda: b.get(by_shift) == on_a, timeout=10, what="node B to count the calendar set through node A")

        # Node A stores the late press's summaries; node B then takes the missing hour: a breakdown.
        assert components(a, late_press, day)["failures"] == 0
        shift_of_a_press(b, late_press, day + 6 * 3_600_000, minutes=range(200, 260), state="breakdown")
        wait_for(lambda: components(a, late_press, day)["failures"] == 1, timeout=15,
                 what="node A's summaries to follow node B's late samples")
        assert components(a, late_press, day)["repair_ms"] == 3_600_000
        assert components(b, late_press, day) == components(a, late_press, day)
    finally:
        a.stop()
        b.stop()


def ingest_status(server, machine, value):
    """The HTTP status of one record posted to one node."""
    try:
        server.request("POST", "/api/v1/ingest", [{"machine": machine, "values": {"temp": value}}])
        return 200
    except urllib.error.HTTPError as error:
        return error.code


def test_machines_retired_moved_or_deleted_through_one_node_are_followed_by_the_other(tmp_path, storage):
    """Each node keeps its machines in memory (the ingest registry): a machine retired, moved or
    deleted through node A is treated so by node B too, through the change feed."""
    url, _ = storage
    a = GembaServer(tmp_path / "a", PASSWORD, ["--storage", url])
    b = GembaServer(tmp_path / "b", PASSWORD, ["--storage", url])
    try:
        retired, moved, deleted = "feed/line1/retired", "feed/line1/moved", "feed/line1/deleted"
        for machine in (retired, moved, deleted):
            assert ingest_status(b, machine, 1.0) == 200  # node B knows the machine and its series now
        a.request("POST", "/api/v1/machines/move", {"machine": moved, "to": "feed/line2/moved"})
        a.request("DELETE", f"/api/v1/machines?machine={deleted}&confirm={deleted}")
        a.request("POST", "/api/v1/machines/retire", {"machine": retired, "retired": True})
        # Changes reach node B in the order node A made them: once it refuses the retired machine's
        # data, it has followed the move and the deletion too.
        wait_for(lambda: ingest_status(b, retired, 2.0) == 400, timeout=10, what="node B to refuse the retired machine's data")
        # Data for the moved machine's old path is a new machine's, not the moved one's.
        assert ingest_status(b, moved, 3.0) == 200
        assert b.get(f"/api/v1/latest?machine={moved}&tag=temp")["values"][0]["v"] == 3.0
        now = int(time.time() * 1000)
        moved_history = b.get(f"/api/v1/history?machine=feed/line2/moved&tag=temp&from={now - 600_000}&to={now + 60_000}&points=1000")
        assert [point["v"] for point in moved_history["series"][0]["points"]] == [1.0]
        # The deleted machine's path starts afresh.
        assert ingest_status(b, deleted, 4.0) == 200
        assert b.get(f"/api/v1/latest?machine={deleted}&tag=temp")["values"][0]["v"] == 4.0
    finally:
        a.stop()
        b.stop()


def alarm_on(server, machine, rule="hot"):
    """The alarm of `rule` on `machine` as this node shows it, or None."""
    items = server.get("/api/v1/alarms?state=all")["items"]
    return next((item for item in items if item["rule"] == rule and item["machine"] == machine), None)


def test_alarms_are_evaluated_on_every_nodes_samples_and_shown_and_acted_on_everywhere(tmp_path, storage):
    """A rule that needs 4 hot samples in a row, fed 2 by each node: only an evaluator seeing every
    committed sample raises it. Both nodes show it; an acknowledgement through the node that does
    not evaluate is applied by the one that does; when the evaluating node is killed, the other
    takes the rules over and raises the next alarm."""
    url, name = storage
    first = GembaServer(tmp_path / "a", PASSWORD, ["--storage", url])
    second = GembaServer(tmp_path / "b", PASSWORD, ["--storage", url])
    nodes = [first, second]
    try:
        rule = {"name": "Hot spindle", "severity": "high", "condition": "spindle_temp > 85 for 4 of 4 samples"}
        first.request("PUT", "/api/v1/rules/hot", rule)
        # The rule reaches the other node (its commits then feed the rule's tag).
        wait_for(lambda: any(item["id"] == "hot" for item in second.get("/api/v1/rules")["items"]), what="the rule on the other node")
        wait_for(lambda: leads(first.http) or leads(second.http), timeout=30, what="a node running the singleton jobs")
        machine = "pg/line3/cnc-1"
        base = int(time.time() * 1000) - 10_000
        for n in range(4):
            nodes[n % 2].request("POST", "/api/v1/ingest", {"records": [{"machine": machine, "ts": base + n * 1000,
                                                                       "values": {"spindle_temp": 90.0 + n}}]})
        for node in nodes:
            wait_for(lambda: (alarm_on(node, machine) or {}).get("state") == "active_unacknowledged", timeout=20,
                     what="the alarm raised from both nodes' samples, shown on each")
        assert int(psql(name, "SELECT count(*) FROM sample_feed")) == 0, "what was evaluated is removed from the feed"
        # An acknowledgement through the node that does not evaluate.
        follower = second if leads(first.http) else first
        acknowledged = follower.request("POST", "/api/v1/alarms/acknowledge", {"rule": "hot", "machine": machine, "comment": "on it"})
        assert acknowledged["acknowledged"] is True
        for node in nodes:
            wait_for(lambda: (alarm_on(node, machine) or {}).get("acknowledged") is True, what="the acknowledgement on both nodes")
        # Refused by the evaluating node: the state does not allow it (409, its reason).
        with pytest.raises(urllib.error.HTTPError) as refused:
            follower.request("POST", "/api/v1/alarms/acknowledge", {"rule": "hot", "machine": machine})
        assert refused.value.code == 409
        # The evaluating node dies: the other takes over and raises the next machine's alarm.
        leader = first if follower is second else second
        leader.kill()
        other = "pg/line3/cnc-2"
        for n in range(4):
            follower.request("POST", "/api/v1/ingest", {"records": [{"machine": other, "ts": base + n * 1000, "values": {"spindle_temp": 99.0}}]})
        wait_for(lambda: (alarm_on(follower, other) or {}).get("state") == "active_unacknowledged", timeout=40,
                 what="the surviving node to take the rules over and raise the alarm")
        assert (alarm_on(follower, machine) or {}).get("acknowledged") is True, "the first alarm as it was left"
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.stop()


def test_a_missing_database_is_reported_in_one_line(tmp_path):
    url = ADMIN_URL.replace("/postgres?", "/no_such_database?")
    started = time.monotonic()
    result = subprocess.run([GEMBA, "serve", "--storage", url, "--storage-timeout", "2", "--data-dir", str(tmp_path / "d"),
                             "--http-port", "0", "--mqtt-port", "0"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "GEMBA_ADMIN_PASSWORD": PASSWORD})
    assert result.returncode == 2, result.stderr
    assert "no_such_database" in result.stderr and "does not exist" in result.stderr
    credentials = url.split("://", 1)[1].split("@", 1)[0]
    if ":" in credentials:
        assert credentials.split(":", 1)[1] not in result.stderr + result.stdout  # the password is never printed
    assert time.monotonic() - started < 30


def rounded(answer):
    """`answer` with every float rounded to 12 significant digits."""
    if isinstance(answer, float):
        return float(f"{answer:.12g}")
    if isinstance(answer, dict):
        return {key: rounded(value) for key, value in answer.items()}
    if isinstance(answer, list):
        return [rounded(value) for value in answer]
    return answer


def test_a_sqlite_data_directory_migrates_to_postgres(tmp_path, storage):
    """`gemba storage migrate`: a demo factory's data directory (a day of history, users, keys,
    OEE settings, alarms) copied into PostgreSQL answers the same queries there."""
    url, name = storage
    source = GembaServer(tmp_path / "sqlite", PASSWORD, ["--demo", "--demo-history-hours", "2"])
    try:
        wait_for(lambda: "simulated history written" in open(str(tmp_path / "sqlite") + ".log").read(), timeout=120,
                 what="the demo's history")
        key = subprocess.run([GEMBA, "admin", "api-key", "create", "--data-dir", str(tmp_path / "sqlite"), "--name", "migrated",
                              "--role", "viewer"], check=True, capture_output=True, text=True).stdout.strip()
        machine = source.get("/api/v1/machines")["machines"][0]["path"]
        now = int(time.time() * 1000)
        queries = [f"/api/v1/history?machine={machine}&from={now - 7200_000}&to={now - 600_000}&points=200",
                   f"/api/v1/oee?asset={machine}&from={now - 7200_000}&to={now - 600_000}",
                   "/api/v1/machines", "/api/v1/members"]
        # The demo's detectors score the written history after it is stored, so their outputs in
        # the window keep arriving for a while: the answers are taken once two reads agree.
        answers = lambda: [source.get(query) for query in queries]
        previous = [answers()]

        def settled():
            current = answers()
            agreed, previous[0] = current == previous[0], current
            return agreed
        wait_for(settled, timeout=120, interval=1.0, what="the source's answers to settle")
        before = previous[0]
    finally:
        source.stop()
    result = subprocess.run([GEMBA, "storage", "migrate", "--from", str(tmp_path / "sqlite"), "--to", url],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "all counts match" in result.stdout and "sample:" in result.stdout
    # Served from PostgreSQL with the same data directory's keys: the same answers, the same key.
    migrated = GembaServer(tmp_path / "sqlite", PASSWORD, ["--storage", url])
    try:
        # Averages of buckets the two databases summed in different orders differ in the last bits.
        for query, answer in zip(queries, before):
            assert rounded(migrated.get(query)) == rounded(answer), query
        assert rounded(migrated.get(queries[0], token=key)) == rounded(before[0])
        assert int(psql(name, "SELECT count(*) FROM audit")) > 0
    finally:
        migrated.stop()
    # A database with data already is refused.
    again = subprocess.run([GEMBA, "storage", "migrate", "--from", str(tmp_path / "sqlite"), "--to", url],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "holds Gemba data already" in again.stderr


def test_backup_and_restore_through_pg_dump(tmp_path, storage):
    """`gemba backup --storage` while the node runs: pg_dump's snapshot and the node's keys in one
    archive; `gemba restore --storage` into a new database answers the same, with the same tokens."""
    url, name = storage
    server = GembaServer(tmp_path / "a", PASSWORD, ["--storage", url, "--mqtt-allow-anonymous"])
    base = (int(time.time()) - 1800) * 1000
    archive = tmp_path / "node.tar"
    try:
        publish(server.mqtt, "pg/line4/m7", base, 120)
        wait_for(lambda: len(history(server, "pg/line4/m7", base, 120)) == 120, what="120 samples in the history")
        result = subprocess.run([GEMBA, "backup", "--storage", url, "--data-dir", str(tmp_path / "a"), "--to", str(archive)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "postgres.dump" in result.stdout and "jwt.key" in result.stdout
        before = history(server, "pg/line4/m7", base, 120)
        token = server.token
    finally:
        server.stop()
    check = subprocess.run([GEMBA, "restore", "--from", str(archive), "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "intact" in check.stdout, check.stderr
    # Without --storage it is refused, saying why.
    plain = subprocess.run([GEMBA, "restore", "--from", str(archive), "--data-dir", str(tmp_path / "plain")],
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode != 0 and "--storage" in plain.stderr
    target = "restored_" + name
    psql("postgres", f"CREATE DATABASE {target}")
    target_url = url.replace(f"/{name}?", f"/{target}?")
    restored = subprocess.run([GEMBA, "restore", "--from", str(archive), "--data-dir", str(tmp_path / "b"), "--storage", target_url],
                              capture_output=True, text=True, timeout=120)
    assert restored.returncode == 0, restored.stderr
    again = GembaServer(tmp_path / "b", PASSWORD, ["--storage", target_url])
    try:
        assert history(again, "pg/line4/m7", base, 120, token=token) == before  # the old token is still valid
    finally:
        again.stop()
    # A database with tables is refused before anything is written.
    twice = subprocess.run([GEMBA, "restore", "--from", str(archive), "--data-dir", str(tmp_path / "c"), "--storage", target_url],
                           capture_output=True, text=True, timeout=60)
    assert twice.returncode == 2 and "new, empty database" in twice.stderr
    assert not (tmp_path / "c").exists()


def test_scheduled_backups_of_a_postgres_node(tmp_path, storage):
    url, _ = storage
    backups = tmp_path / "backups"
    server = GembaServer(tmp_path / "a", PASSWORD, ["--storage", url, "--backup-every", "10s", "--backup-keep", "2",
                                                    "--backup-dir", str(backups)])
    try:
        archive = wait_for(lambda: sorted(p for p in backups.glob("gemba-backup-*.tar")), timeout=60, what="a scheduled backup")[0]
    finally:
        server.stop()
    check = subprocess.run([GEMBA, "restore", "--from", str(archive), "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "postgres.dump" in check.stdout, check.stderr + check.stdout


class LiveWatcher:
    """A WebSocket client of /api/v1/live through haproxy that reconnects when its node goes,
    counting the samples each connection brought."""

    def __init__(self, port, token, machine):
        self.url = f"ws://127.0.0.1:{port}/api/v1/live?machine={machine}&access_token={token}"
        self.samples, self.running = [], True
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self):
        while self.running:
            try:
                with connect(self.url, open_timeout=5) as socket:
                    self.samples.append(0)
                    while self.running:
                        try:
                            frame = json.loads(socket.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        self.samples[-1] += len(frame["samples"])
            except (ConnectionClosed, InvalidHandshake, OSError):
                time.sleep(0.2)  # before connecting again through haproxy

    def stop(self):
        self.running = False
        self.thread.join()


def stored_counts(api, machine, base):
    body = api.get(f"/api/v1/history?machine={machine}&tag=count&from={base}&to={int(time.time() * 1000)}&points=100000")
    return {int(point["v"]) for point in body["series"][0]["points"]} if body["series"] else set()


def test_three_nodes_behind_haproxy_carry_on_when_one_is_killed(tmp_path, storage):
    url, _ = storage
    broker = Mosquitto(tmp_path)
    arguments = ["--storage", url, "--mqtt-upstream", f"mqtt://127.0.0.1:{broker.port}", "--mqtt-upstream-group", "gemba"]
    nodes, proxy, load, watchers = [], None, [], []

    def start(k):
        server = GembaServer(tmp_path / f"n{k}", PASSWORD, arguments)
        log = str(tmp_path / f"n{k}") + ".log"
        wait_for(lambda: "subscribed to upstream broker" in open(log).read(), what="the upstream subscription")
        return server

    try:
        nodes.append(start(0))
        for k in (1, 2):  # the nodes share the signing and notification keys, so any node takes any token
            (tmp_path / f"n{k}").mkdir()
            for key in ("jwt.key", "notifications.key"):
                shutil.copy(tmp_path / "n0" / key, tmp_path / f"n{k}" / key)
            nodes.append(start(k))
        proxy = HAProxy(tmp_path, [node.http for node in nodes])
        api = API(proxy.port, nodes[0].token)
        leader = wait_for(lambda: [k for k, node in enumerate(nodes) if leads(node.http)], timeout=30, what="a leader")
        assert len(leader) == 1
        base = (int(time.time()) - 3000) * 1000
        # MQTT through mosquitto's share group, HTTP through haproxy, and one machine posted to one node only.
        source = nodes[(leader[0] + 1) % 3]
        load = [Publisher(broker.port, "cluster/line1/m1", base, client_id="cluster-plc"), Poster(api, "cluster/line1/m2", base),
                Poster(API(source.http, nodes[0].token), "cluster/line1/m3", base)]
        # Round robin on the live backend: one watcher per node, each shown what one node ingests.
        watchers = [LiveWatcher(proxy.live_port, nodes[0].token, "cluster/line1/m3") for _ in nodes]
        wait_for(lambda: all(watcher.samples and watcher.samples[0] > 0 for watcher in watchers), timeout=30,
                 what="every node's watcher to get the samples one node ingests")

        nodes[leader[0]].kill()
        survivors = [node for k, node in enumerate(nodes) if k != leader[0]]
        wait_for(lambda: any(leads(node.http) for node in survivors), timeout=30, what="the singleton jobs to move")
        # The watcher the dead node served reconnects through haproxy and gets samples again.
        wait_for(lambda: any(len(watcher.samples) > 1 and watcher.samples[-1] > 0 for watcher in watchers), timeout=30,
                 what="a watcher to reconnect and carry on")
        published = len(load[0].acknowledged)
        wait_for(lambda: len(load[0].acknowledged) > published + 300, timeout=30, what="ingest to carry on")

        publisher, poster, _ = load
        acknowledged, posted = publisher.finish(), poster.finish()
        # Back with its data directory (and so its upstream client id), the killed node takes the
        # messages mosquitto kept for its session.
        nodes[leader[0]] = start(leader[0])
        wait_for(lambda: stored_counts(api, "cluster/line1/m1", base) >= acknowledged, timeout=60,
                 what="every message mosquitto acknowledged in the database")
        assert stored_counts(api, "cluster/line1/m2", base) >= posted
        assert all(code in (502, 503, 504) for code in poster.unexpected)  # only what was in flight at the kill
    finally:
        for watcher in watchers:
            watcher.stop()
        for item in load:
            item.running = False
        for node in nodes:
            if node.process.poll() is None:
                node.stop()
        if proxy:
            proxy.stop()
        broker.stop()


def test_one_sparkplug_primary_host_for_the_cluster(tmp_path, storage):
    """Two nodes with --sparkplug-upstream on one database: only the node running the singleton
    jobs is the primary host on mosquitto. Killed, its will says STATE offline (with its birth
    timestamp); the other node takes the lead and says online with a later timestamp."""
    url, _ = storage
    broker = Mosquitto(tmp_path)
    states = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="state-watcher", protocol=mqtt.MQTTv311)
    watcher.on_message = lambda client, userdata, message: states.append(json.loads(message.payload))
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("spBv1.0/STATE/gemba", qos=1)
    watcher.loop_start()
    arguments = ["--storage", url, "--sparkplug-upstream", f"mqtt://127.0.0.1:{broker.port}"]
    nodes = []
    try:
        nodes = [GembaServer(tmp_path / "a", PASSWORD, arguments), GembaServer(tmp_path / "b", PASSWORD, arguments)]
        logs = [str(tmp_path / name) + ".log" for name in ("a", "b")]
        leader = wait_for(lambda: [k for k, node in enumerate(nodes) if leads(node.http)], timeout=30, what="a leader")[0]
        wait_for(lambda: states and states[-1]["online"], timeout=30, what="STATE online")
        first = states[-1]["timestamp"]
        assert "Sparkplug host online on upstream broker" in open(logs[leader]).read()
        assert "Sparkplug host online on upstream broker" not in open(logs[1 - leader]).read()
        nodes[leader].kill()
        wait_for(lambda: any(not state["online"] and state["timestamp"] == first for state in states), timeout=30,
                 what="the dead host's will (STATE offline, its birth timestamp)")
        wait_for(lambda: states[-1]["online"] and states[-1]["timestamp"] > first, timeout=40,
                 what="the other node to take the lead and say STATE online")
        wait_for(lambda: leads(nodes[1 - leader].http), timeout=10, what="the leader gauge to follow")
        assert "Sparkplug host online on upstream broker" in open(logs[1 - leader]).read()
    finally:
        watcher.loop_stop()
        watcher.disconnect()
        for node in nodes:
            if node.process.poll() is None:
                node.stop()
        broker.stop()
