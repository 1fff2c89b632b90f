"""Training and retraining from stored readings: AI4I runs posted as the readings of pump
assets, FD001 engines as the readings of engine assets, and what is said when there is nothing
to train on. Every registered version keeps a sample of its raw inputs as its drift reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI

from shopfloor.core.errors import BadRequest
from shopfloor.ml.ai4i import MEASUREMENTS, read_ai4i
from shopfloor.ml.cmapss import SENSORS, read_cmapss
from shopfloor.ml.readings_data import frames_from_readings
from shopfloor.ml.registry import REFERENCE_ROWS, Registry
from shopfloor.ml.retrain import DECISION_TAG, retrain_from_readings
from shopfloor.ml.training import train_failure_from_file, train_from_readings
from tests.ml.test_asset_health import make_asset, post_columns
from tests.ml.test_registry import register

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FD001 = DATA / "cmapss" / "train_FD001.txt"
AI4I = DATA / "ai4i2020" / "ai4i2020.csv"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
PUMP_ROWS = 4_000  # of AI4I's 10,000: enough failures (about 130) for a stable hold-out F1


@pytest.fixture(autouse=True)
def data_present() -> None:
    for path in (FD001, AI4I):
        if not path.exists():
            pytest.skip(f"{path} is not there (see ../shared/data/README.md)")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry.from_settings(tmp_path_factory.mktemp("models"), None)


async def post_pumps(
    client: httpx.AsyncClient, rows: int = PUMP_ROWS, models: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """The first ``rows`` AI4I runs as the readings of one pump per product type, a minute
    apart; the inputs and labels in the order the pumps' paths sort (H, L, M)."""
    features, labels, _modes = read_ai4i(AI4I)
    features, labels = features.iloc[:rows], labels.iloc[:rows]
    for type_ in ("H", "L", "M"):
        mine = features["type"] == type_
        attributes: dict[str, Any] = {"type": type_, "models": models or {}}
        asset = f"plant/pumps/pump-{type_.lower()}"
        await make_asset(client, asset, attributes)
        columns = features.loc[mine, list(MEASUREMENTS)].assign(
            machine_failure=labels[mine].astype(float),
            ts=[T0 + 60 * i for i in range(int(mine.sum()))],
        )
        await post_columns(client, asset, columns)
    rank = features["type"].astype(str).map({"H": 0, "L": 1, "M": 2}).to_numpy()
    order = rank.argsort(kind="stable")
    return features.iloc[order].reset_index(drop=True), labels.iloc[order].reset_index(drop=True)


async def post_engines(
    client: httpx.AsyncClient, units: range, attributes: dict[str, Any]
) -> dict[int, int]:
    """FD001 engines as engine assets with all 21 sensors, a cycle a minute; asset id by unit."""
    engines = read_cmapss(FD001)
    ids = {}
    for unit in units:
        history = engines[engines["unit"] == unit]
        asset = f"fleet/engines/engine-{unit}"
        ids[unit] = await make_asset(client, asset, attributes)
        columns = history[SENSORS].assign(ts=[T0 + 60 * c for c in history["cycle"]])
        await post_columns(client, asset, columns)
    return ids


async def frames(app: FastAPI, kind: str, **where: str) -> Any:
    async with app.state.db.read() as session:
        return await frames_from_readings(session, app.state.store, kind, **where)


async def test_failure_training_data_from_readings_is_what_the_file_gives(app, client):
    expected_features, expected_labels = await post_pumps(client, rows=600)

    found = await frames(app, "failure", under="plant/pumps")

    pd.testing.assert_frame_equal(found.features, expected_features)
    pd.testing.assert_series_equal(found.labels, expected_labels)
    assert found.source == "readings of 3 assets under plant/pumps" and found.skipped == ()


async def test_a_failure_model_trained_and_retrained_from_pump_readings(app, client, registry):
    name = f"pumps-{app.state.db.dialect}"
    await post_pumps(client, models={"failure": f"{name}@champion"})

    async with app.state.db.read() as session:
        first = await train_from_readings(
            session, app.state.store, registry, "failure", name, under="plant/pumps"
        )

    # A constant "always fails" predictor scores F1 2p/(1+p), about 0.06 at AI4I's 3 % failures.
    assert first.metrics["holdout_f1"] > 0.5, first.metrics
    assert first.metrics["training_rows"] == PUMP_ROWS
    assert first.params["data_source"] == "readings of 3 assets under plant/pumps"
    assert first.description.startswith("trained on readings of 3 assets under plant/pumps")
    reference = registry.reference(first)
    assert reference is not None and list(reference.columns) == list(MEASUREMENTS)
    assert len(reference) == PUMP_ROWS

    registry.promote(name, first.version)
    async with app.state.db.read() as session:  # the assets that name the model
        decision = await retrain_from_readings(session, app.state.store, registry, name)

    assert (decision.challenger, decision.champion) == (2, 1)
    assert decision.metric == "holdout_f1" and decision.champion_score is not None
    challenger = registry.version(name, 2)
    assert json.loads(challenger.tags[DECISION_TAG])["promoted"] == decision.promoted
    assert (
        challenger.description
        == f"challenger retrained on readings of 3 assets naming model {name}"
    )
    assert registry.resolve(f"{name}@challenger").version == 2
    assert list(registry.reference(challenger).columns) == list(MEASUREMENTS)


@pytest.mark.slow  # posts 27 engines' histories and trains two RUL models
async def test_a_rul_model_trained_from_run_to_failure_engines(app, client, registry):
    ids = await post_engines(client, range(1, 26), {"run_to_failure": True})
    await post_engines(client, range(26, 28), {})  # still in service: not a history to learn

    found = await frames(app, "rul", under="fleet/engines")
    expected = read_cmapss(FD001).query("unit <= 25")
    assert list(found.histories.columns) == ["unit", "cycle", *SENSORS]
    assert found.histories["unit"].tolist() == expected["unit"].map(ids).tolist()
    assert found.histories["cycle"].tolist() == expected["cycle"].tolist()
    assert (found.histories[SENSORS].to_numpy() == expected[SENSORS].to_numpy()).all()
    assert [reason.split(":")[0] for reason in found.skipped] == [
        "fleet/engines/engine-26",
        "fleet/engines/engine-27",
    ]

    name = f"engines-{app.state.db.dialect}"
    async with app.state.db.read() as session:
        info = await train_from_readings(
            session, app.state.store, registry, "rul", name, under="fleet/engines"
        )

    assert info.kind == "rul" and info.metrics["holdout_units"] == 5
    assert 0 < info.metrics["holdout_rmse"] < 40, info.metrics
    assert info.params["data_source"] == "readings of 25 assets under fleet/engines"
    reference = registry.reference(info)
    assert reference is not None and len(reference) == REFERENCE_ROWS
    assert set(reference.columns) <= set(SENSORS) and "s_2" in reference.columns


def test_the_reference_round_trips_and_older_versions_have_none(registry):
    info = train_failure_from_file(registry, AI4I, "presses")
    reference = registry.reference(info)

    assert reference is not None and len(reference) == REFERENCE_ROWS
    assert list(reference.columns) == list(MEASUREMENTS)
    assert (reference.dtypes == "float64").all()
    features, _labels, _modes = read_ai4i(AI4I)
    rows = set(map(tuple, features[list(MEASUREMENTS)].to_numpy()))
    assert set(map(tuple, reference.to_numpy())) <= rows
    assert info.params["data_source"] == "file ai4i2020.csv"

    older = registry.version("old-press", register(registry, "old-press", 1.0))
    assert registry.reference(older) is None


async def bad_request(app: FastAPI, kind: str, **where: str) -> str:
    with pytest.raises(BadRequest) as caught:
        await frames(app, kind, **where)
    return caught.value.detail


async def test_what_is_missing_is_said(app, client):
    assert await bad_request(app, "failure", under="plant/nowhere") == (
        "no asset under plant/nowhere"
    )
    await make_asset(client, "plant/empty/press", {})
    assert "has sensors named after the failure model's inputs" in await bad_request(
        app, "failure", under="plant/empty"
    )

    features, labels, _modes = read_ai4i(AI4I)
    runs = features[list(MEASUREMENTS)].iloc[:50]
    await make_asset(client, "plant/a/unlabelled", {"type": "L"})
    await post_columns(client, "plant/a/unlabelled", runs.assign(ts=range(T0, T0 + 50)))
    await make_asset(client, "plant/a/untyped", {})
    await post_columns(
        client, "plant/a/untyped", runs.assign(machine_failure=0.0, ts=range(T0, T0 + 50))
    )
    said = await bad_request(app, "failure", under="plant/a")
    assert said == (
        "nothing to train on under plant/a: plant/a/unlabelled: no sensor for machine_failure;"
        ' plant/a/untyped: needs a product "type" attribute: L, M, H'
    )

    await make_asset(client, "plant/b/healthy", {"type": "M"})
    await post_columns(
        client, "plant/b/healthy", runs.assign(machine_failure=0.0, ts=range(T0, T0 + 50))
    )
    assert "every one of the 50 rows is labelled 0 (no failure)" in await bad_request(
        app, "failure", under="plant/b"
    )
    few = (labels.iloc[:200] == 1).astype(float)
    await make_asset(client, "plant/c/rare", {"type": "H"})
    await post_columns(
        client,
        "plant/c/rare",
        features[list(MEASUREMENTS)].iloc[:200].assign(machine_failure=few, ts=range(T0, T0 + 200)),
    )
    assert f"too few rows: {int(few.sum())} failure(s)" in await bad_request(
        app, "failure", under="plant/c"
    )


async def test_what_is_missing_for_remaining_useful_life_is_said(app, client, registry):
    await post_engines(client, range(1, 3), {})
    assert "no asset under fleet/engines is marked run_to_failure" in await bad_request(
        app, "rul", under="fleet/engines"
    )
    await post_engines(client, range(3, 5), {"run_to_failure": True})
    assert "too few rows: 2 run-to-failure unit(s); at least 5" in await bad_request(
        app, "rul", under="fleet"
    )

    name = f"nobody-{app.state.db.dialect}"
    register(registry, name, 1.0, kind="failure")
    async with app.state.db.read() as session:
        with pytest.raises(BadRequest, match=f"no asset naming model {name}"):
            await retrain_from_readings(session, app.state.store, registry, name)


def shopfloor(data_dir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SHOPFLOOR_DATA_DIR": str(data_dir),
        "SHOPFLOOR_DATABASE_URL": database_url,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "shopfloor", "models", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_cli_trains_and_retrains_from_readings(app, client, settings, tmp_path):
    await post_pumps(client, rows=3_000, models={"failure": "pumps"})
    url = settings.resolved_database_url

    trained = shopfloor(
        tmp_path, url, "train", "failure", "--from-readings", "plant/pumps", "--name", "pumps"
    )
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith(
        "registered pumps v1 (trained on readings of 3 assets under plant/pumps: 3000 rows):"
        " holdout_f1 0."
    )
    retrained = shopfloor(tmp_path, url, "retrain", "pumps", "--from-readings")
    assert retrained.returncode == 0, retrained.stderr
    assert retrained.stdout.startswith("pumps v2 promoted to champion: there was no champion")

    nowhere = shopfloor(tmp_path, url, "retrain", "pumps", "plant/nowhere", "--from-readings")
    assert nowhere.returncode == 2 and "no asset under plant/nowhere" in nowhere.stderr


def test_the_cli_wants_one_source_of_data(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    neither = shopfloor(tmp_path, url, "train", "rul", "--name", "fans")
    assert neither.returncode == 2
    assert "give --data FILE --format cmapss, or --from-readings PATH" in neither.stderr
    both = shopfloor(
        tmp_path, url, "train", "failure", "--data", str(AI4I), "--from-readings", "plant"
    )
    assert both.returncode == 2 and "leave out --data and --format" in both.stderr
    retrain_neither = shopfloor(tmp_path, url, "retrain", "pumps")
    assert retrain_neither.returncode == 2
    assert "give either --data FILE or --from-readings [PATH]" in retrain_neither.stderr
    stray = shopfloor(tmp_path, url, "retrain", "pumps", "plant/pumps")
    assert stray.returncode == 2 and "a PATH goes with --from-readings" in stray.stderr
