"""Backups that restore: `gemba backup` taken while `gemba serve --demo` ingests (the demo's MQTT
machines plus HTTP batches sent one record at a time, as a plant's scripts do), restored with
`gemba restore` into a new data directory, and served again: the restored server answers latest,
history, OEE, audit and members as the original did at the backup's time. The archive is read
by Python's tarfile (a peer that did not write it), and damaged or foreign archives are refused."""

import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
import time

import pytest

from interop_support import GEMBA, GembaServer, wait_for

PASSWORD = "backup-Secret-123456"
LOAD_MACHINE = "bk/line1/load"
SHIFT_MACHINE = "bk/line1/press"


def gemba(*arguments):
    return subprocess.run([GEMBA, *arguments], capture_output=True, text=True, timeout=300)


def reference_shift(server):
    """A past shift of one press (state and counters a minute apart), whose OEE is fixed."""
    start = (int(time.time()) // 86_400 - 3) * 86_400_000 + 6 * 3_600_000
    server.request("PUT", "/api/v1/calendars/bk", {"timeZone": "UTC", "exceptions": [], "patterns": [
        {"name": "A", "weekdays": list(range(1, 8)), "start": "06:00", "end": "14:00", "breaks": []}]})
    server.request("PUT", f"/api/v1/production-settings?machine={SHIFT_MACHINE}", {"idealCycleTime": 90_000})
    records = []
    for minute in range(480):
        state = "breakdown" if 100 <= minute < 160 else "producing"
        records.append({"machine": SHIFT_MACHINE, "ts": start + minute * 60_000,
                        "values": {"state": state, "total_count": 3 * minute // 5, "good_count": 11 * minute // 20}})
    for first in range(0, len(records), 100):
        server.request("POST", "/api/v1/ingest", records[first:first + 100])
    return start


class Load(threading.Thread):
    """Posts one record per request, as fast as answers come, noting when each was acknowledged."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.stopping, self.acked, self.sent = server, threading.Event(), [], []

    def run(self):
        n = 0
        while not self.stopping.is_set():
            n += 1
            self.sent.append((n, time.time()))
            self.server.request("POST", "/api/v1/ingest", [{"machine": LOAD_MACHINE, "values": {"n": n}}])
            self.acked.append((n, time.time()))

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)


def load_values(server, since_ms):
    now = int(time.time() * 1000) + 60_000
    body = server.get(f"/api/v1/history?machine={LOAD_MACHINE}&tag=n&from={since_ms}&to={now}&points=100000")
    return [point["v"] for point in body["series"][0]["points"]]


def comparable(server, shift_start, before_ms):
    """What must be the same on the original at the backup's time and on the restored server."""
    shift_end = shift_start + 480 * 60_000
    oee = server.get(f"/api/v1/oee?asset=bk&from={shift_start}&to={shift_end}&period=shift")
    history = server.get(f"/api/v1/history?machine={SHIFT_MACHINE}&tag=total_count&from={shift_start}&to={shift_end}&points=1000")
    audit = server.get(f"/api/v1/audit?to={before_ms}&limit=1000")["items"]
    members = server.get("/api/v1/members")["items"]
    return {"oee": oee["periods"], "history": history["series"], "audit": audit, "members": members}


@pytest.fixture
def original(tmp_path):
    server = GembaServer(tmp_path / "original", PASSWORD, ["--demo"])
    yield server
    server.stop()


def test_a_backup_under_load_restores_to_the_same_answers(original, tmp_path):
    shift_start = reference_shift(original)
    original.request("POST", "/api/v1/api-keys", {"name": "historian", "role": "viewer"})
    started_ms = int(time.time() * 1000)
    load = Load(original)
    load.start()
    wait_for(lambda: len(load.acked) > 50, what="the load to run")

    archive = tmp_path / "backup.tar"
    before_backup = time.time()
    result = gemba("backup", "--data-dir", str(original.data), "--to", str(archive))
    after_backup = time.time()
    assert result.returncode == 0, result.stderr
    wait_for(lambda: any(at > after_backup for _, at in load.sent), what="load after the backup")
    load.stop()
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    before_ms = int(before_backup * 1000)
    expected = comparable(original, shift_start, before_ms)
    assert expected["oee"] and expected["audit"]

    restored_dir = tmp_path / "restored"
    result = gemba("restore", "--from", str(archive), "--data-dir", str(restored_dir))
    assert result.returncode == 0, result.stderr
    restored = GembaServer(restored_dir, PASSWORD)
    try:
        # Tokens signed by the original stay valid: the signing key came with the backup.
        assert restored.get("/api/v1/members", token=original.token)["items"] == expected["members"]
        assert comparable(restored, shift_start, before_ms) == expected

        # Every sample acknowledged before the backup began is there; none first sent after it ended.
        values = load_values(restored, started_ms)
        acked_before = [n for n, at in load.acked if at < before_backup]
        sent_after = [n for n, at in load.sent if at > after_backup]
        assert set(acked_before) <= set(values)
        assert not set(sent_after) & set(values)
        latest = restored.get(f"/api/v1/latest?machine={LOAD_MACHINE}&tag=n")["values"][0]["v"]
        assert max(acked_before) <= latest < min(sent_after)
    finally:
        restored.stop()


def test_python_tarfile_reads_the_archive_and_its_checksums(original, tmp_path):
    archive = tmp_path / "backup.tar"
    assert gemba("backup", "--data-dir", str(original.data), "--to", str(archive)).returncode == 0
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert names[0] == "manifest.json"
        manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest["format"] == "gemba-backup"
        assert {f["path"] for f in manifest["files"]} >= {"gemba.sqlite", "identity.sqlite", "jwt.key", "notifications.key"}
        assert names[1:] == [f["path"] for f in manifest["files"]]
        for entry in manifest["files"]:
            data = tar.extractfile(entry["path"]).read()
            assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert tar.getmember("jwt.key").mode == 0o600
        telemetry = next(f for f in manifest["files"] if f["path"] == "gemba.sqlite")
        assert telemetry["counts"]["samples"] > 0 and "v1-telemetry" in telemetry["migrations"]


def test_damaged_and_newer_backups_are_refused_before_anything_is_written(original, tmp_path):
    archive = tmp_path / "backup.tar"
    assert gemba("backup", "--data-dir", str(original.data), "--to", str(archive)).returncode == 0

    # One byte changed inside gemba.sqlite.
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as tar:
        offset = tar.getmember("gemba.sqlite").offset_data + 4096
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0xFF
    damaged.write_bytes(bytes(data))
    result = gemba("restore", "--from", str(damaged), "--check")
    assert result.returncode == 1 and "gemba.sqlite in the backup does not match its checksum" in result.stderr
    result = gemba("restore", "--from", str(damaged), "--data-dir", str(tmp_path / "r1"))
    assert result.returncode == 1 and not (tmp_path / "r1").exists()

    # A backup cut short.
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: offset])
    result = gemba("restore", "--from", str(truncated), "--check")
    assert result.returncode == 1 and "ends inside gemba.sqlite" in result.stderr

    # A backup from a newer Gemba: a schema migration this one does not know, re-packed by tarfile.
    newer = tmp_path / "newer.tar"
    with tarfile.open(archive) as source, tarfile.open(newer, "w", format=tarfile.USTAR_FORMAT) as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["gembaVersion"] = "99.0.0"
                next(f for f in manifest["files"] if f["path"] == "gemba.sqlite")["migrations"].append("v99-future")
                data = json.dumps(manifest).encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    result = gemba("restore", "--from", str(newer), "--data-dir", str(tmp_path / "r2"))
    assert result.returncode == 1 and "v99-future" in result.stderr and "Gemba 99.0.0" in result.stderr
    assert not (tmp_path / "r2").exists()

    # Not into a directory that holds data.
    result = gemba("restore", "--from", str(archive), "--data-dir", str(original.data))
    assert result.returncode == 1 and "is not empty" in result.stderr


def test_scheduled_backups_keep_the_newest(tmp_path):
    backups = tmp_path / "backups"
    server = GembaServer(tmp_path / "scheduled", PASSWORD,
                         ["--backup-every", "10s", "--backup-keep", "2", "--backup-dir", str(backups)])
    try:
        log = tmp_path / "scheduled.log"
        wait_for(lambda: log.read_text().count("backup written") >= 3, timeout=60, interval=0.5, what="three scheduled backups")
        wait_for(lambda: len(os.listdir(backups)) == 2, what="the oldest backup to be deleted")
        names = sorted(os.listdir(backups))
        assert all(name.startswith("gemba-backup-") and name.endswith(".tar") for name in names)
        for name in names:
            assert gemba("restore", "--from", str(backups / name), "--check").returncode == 0
    finally:
        server.stop()
