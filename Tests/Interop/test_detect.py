"""`gemba detect score` over NAB's own labelled series (../shared/testdata/nab-dev, NAB v1.1, MIT):
every detector scored for the three profiles, in the layout NAB's scripts read."""

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

GEMBA = os.environ.get("GEMBA_BIN", ".build/debug/gemba")
NAB_DEV = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "nab-dev"

pytestmark = pytest.mark.skipif(not (NAB_DEV / "windows.json").exists(), reason="needs ../shared/testdata/nab-dev")


def test_every_detector_is_scored_for_every_profile_and_its_scores_written(tmp_path):
    run = subprocess.run([GEMBA, "detect", "score", str(NAB_DEV), "--json", "--results", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert {(row["detector"], row["profile"]) for row in rows} == {
        (detector, profile) for detector in ("robust", "knn", "context")
        for profile in ("standard", "reward_low_fp", "reward_low_fn")}
    windows = sum(len(spans) for spans in json.loads((NAB_DEV / "windows.json").read_text()).values())
    for row in rows:
        assert 0 <= row["score"] <= 100
        assert row["true_positives"] + row["false_negatives"] == windows
    # The scores file of each series has a score per row, in [0, 1], beside NAB's own columns.
    results = tmp_path / "knn" / "realKnownCause" / "knn_nyc_taxi.csv"
    with results.open() as file, (NAB_DEV / "data" / "realKnownCause" / "nyc_taxi.csv").open() as data:
        written, source = list(csv.DictReader(file)), list(csv.DictReader(data))
    assert [row["timestamp"] for row in written] == [row["timestamp"] for row in source]
    assert all(0 <= float(row["anomaly_score"]) <= 1 for row in written)


def test_a_corpus_that_is_not_in_nabs_layout_is_refused_clearly(tmp_path):
    run = subprocess.run([GEMBA, "detect", "score", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "windows.json" in run.stderr
    (tmp_path / "windows.json").write_text('{"a/b.csv": [["2020-01-01 00:00:00", "2020-01-02 00:00:00"]]}')
    run = subprocess.run([GEMBA, "detect", "score", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "b.csv" in run.stderr
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "a" / "b.csv").write_text("timestamp,value\n2020-01-01 00:00:00,1\nnot a row\n")
    run = subprocess.run([GEMBA, "detect", "score", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "b.csv:3" in run.stderr


CMAPSS = NAB_DEV.parent / "cmapss" / "train_FD001.txt"


@pytest.mark.skipif(not CMAPSS.exists(), reason="needs ../shared/testdata/cmapss")
def test_the_fleet_model_estimates_nasas_turbofans_remaining_life_within_18_cycles(tmp_path):
    """NASA's C-MAPSS FD001 (100 turbofans run to failure), 5-fold cross-validation over engines."""
    model = tmp_path / "rul.json"
    run = subprocess.run([GEMBA, "detect", "train-rul", str(CMAPSS), "--json", "--model", str(model)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["machines"] == 100 and result["estimates"] == 500
    assert result["rmse"] <= 18 and result["rmse_uncapped"] <= 18, result
    assert json.loads(model.read_text())["signals"]
    bad = tmp_path / "bad.txt"
    bad.write_text("1 1 0.5\n1 2 x\n")
    run = subprocess.run([GEMBA, "detect", "train-rul", str(bad)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "line 2" in run.stderr


@pytest.mark.parametrize("source", [["--demo"], [str(NAB_DEV), "--prefix", "realKnownCause/"]])
def test_the_forecasts_90_percent_interval_holds_the_truth_85_to_95_percent_of_the_time(source):
    """12 samples ahead, each forecast made before its truth is seen: the demo factory's signals and
    NAB's real series."""
    run = subprocess.run([GEMBA, "detect", "forecast-check", *source, "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    total = rows[-1]
    assert total["series"] == "all" and total["intervals"] > 50_000
    assert 0.85 <= total["coverage"] <= 0.95, total
    assert all(0.85 <= row["coverage"] <= 0.95 for row in rows[:-1]), rows
