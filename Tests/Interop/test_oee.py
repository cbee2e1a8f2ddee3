"""OEE from a machine that talks MQTT: Eclipse Paho publishes the issue's reference shift as a PLC
would (one JSON record a minute with the state and cumulative counters, QoS 1), and the OEE API
must answer A 86.67 %, P 93.08 %, Q 91.32 %, OEE 73.67 %."""

import datetime
import json
import urllib.request
import uuid
import zoneinfo

from test_telemetry import HTTP, MQTT_PORT, authorized, get, paho


def put(path, body):
    request = urllib.request.Request(HTTP + path, data=json.dumps(body).encode(), method="PUT",
                                     headers=authorized({"Content-Type": "application/json"}))
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_reference_shift_published_with_paho():
    site = f"oee-{uuid.uuid4().hex[:8]}"
    machine = f"{site}/line1/m1"
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    day = datetime.datetime.now(berlin).date() - datetime.timedelta(days=3)
    start = int(datetime.datetime.combine(day, datetime.time(6, 0), berlin).timestamp() * 1000)
    put(f"/api/v1/calendars/{site}", {"timeZone": "Europe/Berlin", "exceptions": [], "patterns": [
        {"name": "A", "weekdays": list(range(1, 8)), "start": "06:00", "end": "14:00",
         "breaks": [{"start": "10:00", "end": "10:30"}]}]})
    put(f"/api/v1/production-settings?machine={machine}", {"idealCycleTime": 90_000})

    # 06:00 producing, 08:00–09:00 breakdown, 10:00–10:30 break; 242 units, 21 of them scrap.
    def state(minute):
        return "breakdown" if 120 <= minute < 180 else "break" if 240 <= minute < 270 else "producing"
    producing = [m for m in range(480) if state(m) == "producing"]
    client = paho(MQTT_PORT)
    try:
        made = 0
        for minute in range(480):
            made += state(minute) == "producing"
            record = {"ts": start + minute * 60_000, "values": {
                "state": state(minute), "total_count": 5000 + 242 * made // len(producing),
                "good_count": 9000 + 221 * made // len(producing), "fault_code": "E101" if state(minute) == "breakdown" else "none"}}
            client.publish(f"gemba/v1/{machine}", json.dumps(record), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()

    report = get(f"/api/v1/oee?asset={site}&from={start}&to={start + 480 * 60_000}&period=shift")
    shift = report["periods"][0]
    assert shift["label"] == f"{day.isoformat()} A"
    figures = {name: round(shift[name]["value"] * 100, 2) for name in ["availability", "performance", "quality", "oee"]}
    assert figures == {"availability": 86.67, "performance": 93.08, "quality": 91.32, "oee": 73.67}
    assert shift["components"]["planned_ms"] == 450 * 60_000 and shift["components"]["run_ms"] == 390 * 60_000
    assert shift["downtime_pareto"][0]["reason"] == "unplanned_stop/equipment_failure"

    stops = get(f"/api/v1/stops?machine={machine}&from={start}&to={start + 480 * 60_000}")["stops"]
    failure = next(stop for stop in stops if stop["reason"] == "unplanned_stop/equipment_failure")
    assert failure["duration_ms"] == 60 * 60_000 and failure["fault_code"] == "E101"
