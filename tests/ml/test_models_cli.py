"""``shopfloor models``, as an operator runs it: train, list, promote, predict, and the
mistakes it answers with a clear message and exit 2."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ml.test_retrain import FD001, engines

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
AI4I = DATA / "ai4i2020" / "ai4i2020.csv"


def shopfloor(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "shopfloor", "models", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.skipif(not AI4I.exists(), reason=f"AI4I 2020 is not at {AI4I}")
def test_train_a_failure_model_list_it_and_promote_it(tmp_path: Path):
    trained = shopfloor(tmp_path, "train", "failure", "--data", str(AI4I), "--format", "ai4i")
    assert trained.returncode == 0, trained.stderr
    assert "registered failure v1: holdout_f1 0." in trained.stdout

    promoted = shopfloor(tmp_path, "promote", "failure", "1")
    assert promoted.returncode == 0 and "failure@champion → v1" in promoted.stdout
    listed = shopfloor(tmp_path, "list")
    assert "failure" in listed.stdout and "champion=v1" in listed.stdout

    wrong = shopfloor(tmp_path, "train", "failure", "--data", str(AI4I), "--format", "cmapss")
    assert wrong.returncode == 2 and "failure prediction reads ai4i" in wrong.stderr
    missing = shopfloor(tmp_path, "promote", "failure", "7")
    assert missing.returncode == 2 and "has no version 7" in missing.stderr
    nothing = shopfloor(tmp_path, "rollback", "failure")
    assert nothing.returncode == 2 and "no earlier version" in nothing.stderr


@pytest.mark.slow
@pytest.mark.skipif(not FD001.exists(), reason=f"C-MAPSS FD001 is not at {FD001}")
def test_train_and_predict_remaining_useful_life(tmp_path: Path):
    histories = engines(tmp_path / "engines.txt", 1, 30)
    trained = shopfloor(
        tmp_path, "train", "rul", "--data", str(histories), "--format", "cmapss", "--name", "fans"
    )
    assert trained.returncode == 0, trained.stderr
    assert "registered fans v1: holdout_nasa_score" in trained.stdout

    out = tmp_path / "rul.csv"
    predicted = shopfloor(
        tmp_path,
        "predict",
        "rul",
        "--model",
        "fans@1",
        "--data",
        str(histories),
        "--format",
        "cmapss",
        "--out",
        str(out),
    )
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.DictReader(out.open()))
    assert [int(row["unit"]) for row in rows] == list(range(1, 31))
    # Every history runs to failure: the remaining life at the last cycle is near zero.
    assert all(0 <= float(row["rul"]) < 20 for row in rows)

    unknown = shopfloor(
        tmp_path,
        "predict",
        "rul",
        "--model",
        "ghost",
        "--data",
        str(histories),
        "--format",
        "cmapss",
        "--out",
        str(out),
    )
    assert unknown.returncode == 2 and "no model named 'ghost'" in unknown.stderr
