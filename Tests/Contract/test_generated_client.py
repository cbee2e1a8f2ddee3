"""A client generated from Gemba's /openapi.json by openapi-python-client (an independent generator)
signs in, ingests, and reads latest values, history, OEE and stops, parsing every answer into its
generated models. If the document lies about a shape, from_dict fails or a field is missing."""
import importlib
import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest

BASE = os.environ["GEMBA_HTTP_URL"]
API_KEY = os.environ["GEMBA_API_KEY"]
PASSWORD = os.environ["GEMBA_ADMIN_PASSWORD"]
MACHINE = "contract/line1/mill-1"


@pytest.fixture(scope="module")
def gemba(tmp_path_factory):
    """The generated package, imported from a fresh generation of the live document."""
    out = tmp_path_factory.mktemp("generated")
    request = urllib.request.Request(f"{BASE}/openapi.json", headers={"Authorization": f"Bearer {API_KEY}"})
    (out / "openapi.json").write_bytes(urllib.request.urlopen(request).read())
    result = subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi.json", "--output-path", "gemba_client",
                             "--meta", "none"], cwd=out, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The only endpoints it may skip are the line-protocol writes: it does not generate text/plain bodies.
    skipped = [line for line in result.stdout.splitlines() if line.startswith("WARNING parsing")]
    assert all("/write " in line for line in skipped), skipped
    assert "Unable to process schema" not in result.stdout, result.stdout
    sys.path.insert(0, str(out))
    return importlib.import_module("gemba_client")


def api(gemba, module):
    return importlib.import_module(f"gemba_client.api.{module}")


def test_sign_in_ingest_and_read_everything_through_generated_models(gemba):
    from gemba_client import AuthenticatedClient, Client
    from gemba_client import models

    login = api(gemba, "access.post_auth_login")
    answer = login.sync_detailed(client=Client(base_url=BASE),
                                 body=models.PostAuthLoginBody(email="admin@gemba.local", password=PASSWORD))
    assert answer.status_code == 200, answer.content
    tokens = answer.parsed
    assert isinstance(tokens, models.TokenPair) and tokens.token_type.value == "Bearer"
    client = AuthenticatedClient(base_url=BASE, token=tokens.access_token)

    me = api(gemba, "access.get_auth_me").sync(client=client)
    assert isinstance(me, models.Profile) and me.email == "admin@gemba.local"

    # A shift of one-minute records: a running state, a counter, a temperature.
    now = int(time.time() * 1000) // 60_000 * 60_000
    records = []
    for minute in range(60, 0, -1):
        t = now - minute * 60_000
        state = "breakdown" if 20 <= minute < 30 else "running"
        values = models.RecordValues.from_dict({"state": state, "total_count": 1000 + (60 - minute) * 3, "spindle_temp": 60.0 + minute / 10})
        records.append(models.Record(machine=MACHINE, values=values, ts=t))
    ingested = api(gemba, "telemetry.post_ingest").sync(client=client, body=models.RecordBatch(records=records))
    assert isinstance(ingested, models.IngestResult), ingested
    assert ingested.stored == 180 and ingested.duplicates == 0

    latest = api(gemba, "telemetry.get_latest").sync(client=client, machine=[MACHINE])
    assert isinstance(latest, models.GetLatestResponse200)
    by_tag = {value.tag: value for value in latest.values}
    assert by_tag["total_count"].v == 1000 + 59 * 3 and by_tag["state"].v == "running"
    assert by_tag["spindle_temp"].quality == models.Quality.GOOD

    history = api(gemba, "telemetry.get_history").sync(client=client, series=[f"{MACHINE}/spindle_temp"],
                                                         from_=str(now - 3_600_000), to=str(now), points=1000)
    assert isinstance(history, models.History)
    series = history.series[0]
    assert series.resolution == models.SeriesHistoryResolution.RAW and len(series.points) == 60

    machines = api(gemba, "telemetry.get_machines").sync(client=client)
    assert MACHINE in [machine.path for machine in machines.machines]
    tree = api(gemba, "telemetry.get_assets").sync(client=client)
    assert isinstance(tree, models.AssetTree) and "contract" in [site.name for site in tree.sites]

    report = api(gemba, "oee.get_oee").sync(client=client, asset=MACHINE, from_=str(now - 3_600_000), to=str(now),
                                              period=models.GetOeePeriod.NONE)
    assert isinstance(report, models.OEEReport), report
    availability = report.total.availability
    assert isinstance(availability, models.KPI) and availability.value is not None and 0.7 < availability.value < 0.9
    assert report.total.components.total_count == 59 * 3
    assert report.total.performance.value is None and report.total.performance.note  # no ideal cycle time yet

    current = api(gemba, "oee.get_oee_current").sync(client=client, asset=MACHINE)
    assert isinstance(current, models.CurrentShift)

    stops = api(gemba, "oee.get_stops").sync(client=client, machine=MACHINE, from_=str(now - 3_600_000), to=str(now))
    assert isinstance(stops, models.Stops)
    breakdown = [stop for stop in stops.stops if stop.category == models.StateCategory.UNPLANNED_STOP]
    assert len(breakdown) == 1 and breakdown[0].duration_ms == 600_000 and breakdown[0].fault_code is None

    floor = api(gemba, "oee.get_floor").sync(client=client, asset="contract")
    assert isinstance(floor, models.Floor) and floor.machines[0].machine == MACHINE

    reasons = api(gemba, "oee.get_reasons").sync(client=client)
    assert any(reason.code == "equipment_failure" and reason.is_failure for reason in reasons.reasons)
    settings = api(gemba, "oee.get_production_settings").sync(client=client, machine=MACHINE)
    assert isinstance(settings, models.ProductionSettings) and settings.state_tag == "state"

    # An error is a Problem, parsed like any answer.
    missing = api(gemba, "telemetry.get_latest").sync_detailed(client=client, machine=["contract/line1/nothing"])
    assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem) and "nothing" in missing.parsed.detail
