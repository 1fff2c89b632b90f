"""Drift, as the pipeline watches for it: a pump's live inputs shifted by two standard
deviations raise a drift alarm naming the shifted input; with retraining on drift, a challenger
is registered from the pump's stored readings and the decision is recorded, on the model
version and as a note on the alarm. Real embedded MLflow store, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shopfloor.config import Settings
from shopfloor.ml.ai4i import read_ai4i
from shopfloor.ml.registry import Registry
from shopfloor.ml.retrain import DECISION_TAG
from shopfloor.ml.training import train_failure_from_file
from tests.connectors.helpers import eventually
from tests.fixtures.auth import SECRET_KEY
from tests.ml.test_asset_health import AI4I, MEASUREMENTS, T0, make_asset

ROWS = 1_500
DAY = 86_400


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A registry of its own per test: retraining changes its champion."""
    if not AI4I.exists():
        pytest.skip(f"{AI4I} is not there (see ../shared/data/README.md)")
    registry = Registry.from_settings(tmp_path / "models", None)
    first = train_failure_from_file(registry, AI4I, "pumps-failure")
    registry.promote("pumps-failure", first.version)
    return registry


@pytest.fixture
def settings(database_url: str, tmp_path: Path, registry: Registry) -> Settings:
    # The watch is driven by the test (check_all); its own schedule never comes round.
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        log_json=False,
        secret_key=SECRET_KEY,
        mlflow_url=registry.tracking_uri,
        drift_check_every_s=3600,
        retrain_on_drift=True,
        failure_risk_threshold=None,
    )


def pump_rows(seed: int, torque_shift_sigmas: float = 0.0) -> tuple[Any, Any]:
    """Rows of type-L pumps drawn at random from AI4I (its order has trends of its own),
    with their failure labels; the torque shifted by the given number of standard deviations."""
    features, labels, _ = read_ai4i(AI4I)
    typed = features[features["type"] == "L"]
    rows = typed.sample(ROWS, random_state=seed)
    rows = rows.assign(torque_nm=rows["torque_nm"] + torque_shift_sigmas * typed["torque_nm"].std())
    return rows, labels.loc[rows.index]


async def post_rows(client, asset: str, rows, labels, start: int) -> None:
    ts = [start + 60 * i for i in range(len(rows))]
    series = [
        {"sensor": f"{asset}/{name}", "ts": ts, "values": rows[name].astype(float).tolist()}
        for name in MEASUREMENTS
    ]
    series.append(
        {"sensor": f"{asset}/machine_failure", "ts": ts, "values": labels.astype(float).tolist()}
    )
    response = await client.post("/readings", json={"series": series})
    assert response.status_code == 202, response.text


async def drift_alarms(client, asset: str) -> list[dict[str, Any]]:
    found = (await client.get("/alarms", params={"under": asset})).json()["items"]
    return [alarm for alarm in found if alarm["kind"] == "drift"]


async def test_shifted_inputs_raise_a_drift_alarm_and_retraining_records_a_decision(
    app, client, registry
):
    asset = "plant/pumps/pump-3"
    asset_id = await make_asset(
        client, asset, {"models": {"failure": "pumps-failure"}, "type": "L"}
    )
    for name in (*MEASUREMENTS, "machine_failure"):
        assert (await client.post("/sensors", json={"path": f"{asset}/{name}"})).status_code == 201
    watch = app.state.pipeline.drift

    await post_rows(client, asset, *pump_rows(seed=1), start=T0)
    [calm] = await watch.check_all()
    assert calm.condition is not None and not calm.condition.holds, calm.features
    assert await drift_alarms(client, asset) == []

    # A day later, the same pumps with their torque two standard deviations higher.
    await post_rows(client, asset, *pump_rows(seed=2, torque_shift_sigmas=2), start=T0 + 2 * DAY)
    [shifted] = await watch.check_all()
    drifted = {f.feature for f in shifted.features if f.drifted}
    assert "torque_nm" in drifted and "speed_rpm" not in drifted, shifted.features

    [alarm] = await drift_alarms(client, asset)
    assert alarm["kind"] == "drift" and alarm["rule"] == "drift:pumps-failure"
    assert alarm["asset"] == asset_id and alarm["state"] == "open"
    assert "torque_nm (PSI" in alarm["message"] and alarm["value"] > 0.2

    async def decided() -> list[dict[str, Any]]:
        notes = (await client.get(f"/alarms/{alarm['id']}")).json()["notes"]
        return [n for n in notes if n["author"] == "shopfloor"]

    [note] = await eventually(decided, "the retraining decision on the alarm", within_s=120)
    assert note["text"].startswith("retrained on drift: v2 registered as challenger"), note
    assert registry.resolve("pumps-failure@challenger").version == 2
    decision = json.loads(registry.version("pumps-failure", 2).tags[DECISION_TAG])
    assert decision["champion"] == 1 and decision["metric"] == "holdout_f1"
    assert np.isfinite(decision["challenger_score"]) and np.isfinite(decision["champion_score"])
    champion = registry.resolve("pumps-failure@champion").version
    assert champion == (2 if decision["promoted"] else 1)

    # A second check on the same readings changes nothing: still one alarm, counted once.
    await watch.check_all()
    [again] = await drift_alarms(client, asset)
    assert again["id"] == alarm["id"] and again["count"] == 1
