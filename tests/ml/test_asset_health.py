"""GET /assets/{id}/health: remaining useful life and failure risk from an asset's own
readings, by the models its attributes name (registered in a real embedded MLflow store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from shopfloor.ml.ai4i import read_ai4i
from shopfloor.ml.cmapss import read_cmapss
from shopfloor.ml.registry import Registry, data_fingerprint, signature_of
from shopfloor.ml.rul import RulModel, train_rul
from shopfloor.ml.training import train_failure_from_file

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FD001 = DATA / "cmapss" / "train_FD001.txt"
AI4I = DATA / "ai4i2020" / "ai4i2020.csv"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    for path in (FD001, AI4I):
        if not path.exists():
            pytest.skip(f"{path} is not there (see ../shared/data/README.md)")
    registry = Registry.from_settings(tmp_path_factory.mktemp("models"), None)
    engines = read_cmapss(FD001)
    model = train_rul(engines[engines["unit"] <= 40], num_threads=1)
    registry.log_model(
        "engines-rul",
        "rul",
        model,
        params={},
        metrics={},
        fingerprint=data_fingerprint(engines),
        signature=signature_of(model.feature_rows(engines[engines["unit"] == 1])),
    )
    train_failure_from_file(registry, AI4I, "pumps-failure")
    return registry


async def make_asset(client: httpx.AsyncClient, path: str, attributes: dict[str, Any]) -> int:
    parts = path.split("/")
    kinds = ["site", "area", "machine"]
    for depth in range(1, len(parts)):
        await client.post(
            "/assets", json={"path": "/".join(parts[:depth]), "kind": kinds[depth - 1]}
        )
    response = await client.post(
        "/assets", json={"path": path, "kind": "machine", "attributes": attributes}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def post_columns(client: httpx.AsyncClient, asset: str, frame: pd.DataFrame) -> None:
    series = [
        {"sensor": f"{asset}/{name}", "ts": frame["ts"].tolist(), "values": frame[name].tolist()}
        for name in frame.columns
        if name != "ts"
    ]
    for item in series:
        assert (await client.post("/sensors", json={"path": item["sensor"]})).status_code == 201
    response = await client.post("/readings", json={"series": series})
    assert response.status_code == 202, response.text


async def test_remaining_useful_life_from_an_engines_readings(app, client, registry):
    app.state.registry = registry
    model = registry.load(registry.resolve("engines-rul"), {"rul": RulModel.load})
    engine = read_cmapss(FD001).query("unit == 41")
    seen = engine.iloc[:120]
    asset = "fleet/engines/engine-41"
    asset_id = await make_asset(client, asset, {"models": {"rul": "engines-rul"}})
    readings = seen[model.sensors].assign(ts=[T0 + 60 * c for c in seen["cycle"]])
    await post_columns(client, asset, readings)

    health = (await client.get(f"/assets/{asset_id}/health")).json()

    truth = min(len(engine) - len(seen), model.cap)
    assert health["models"] == {"rul": {"name": "engines-rul", "version": 1}}
    assert abs(health["rul"] - truth) < 35, (health["rul"], truth)
    assert health["failure_risk"] is None and health["problems"] == []
    assert health["updated_at"].startswith("2026-01-01T02:00:00")  # cycle 120, a minute each


async def test_failure_risk_from_a_pumps_latest_measurements(app, client, registry):
    app.state.registry = registry
    features, labels, modes = read_ai4i(AI4I)
    heat_failure = features[(modes["HDF"] == 1) & (features["type"] == "L")].iloc[0]
    healthy = features[(labels == 0) & (features["type"] == "L")].iloc[0]
    asset = "plant/pumps/pump-1"
    asset_id = await make_asset(
        client, asset, {"models": {"failure": "pumps-failure"}, "type": "L"}
    )
    columns = ["air_temp_k", "process_temp_k", "speed_rpm", "torque_nm", "tool_wear_min"]
    failing = pd.DataFrame([heat_failure[columns]]).assign(ts=[T0])
    await post_columns(client, asset, failing)
    risky = (await client.get(f"/assets/{asset_id}/health")).json()
    assert risky["failure_risk"] > 0.5, risky

    later = {
        "series": [
            {"sensor": f"{asset}/{name}", "ts": [T0 + 60], "values": [float(healthy[name])]}
            for name in columns
        ]
    }
    assert (await client.post("/readings", json=later)).status_code == 202
    calm = (await client.get(f"/assets/{asset_id}/health")).json()
    assert calm["failure_risk"] < 0.1, calm
    assert calm["models"] == {"failure": {"name": "pumps-failure", "version": 1}}


async def test_what_is_missing_is_said(app, client, registry):
    app.state.registry = registry
    bare = await make_asset(client, "plant/line/press", {})
    answer = (await client.get(f"/assets/{bare}/health")).json()
    assert answer["rul"] is None and "names no models" in answer["problems"][0]

    untyped = await make_asset(client, "plant/line/drill", {"models": {"failure": "pumps-failure"}})
    answer = (await client.get(f"/assets/{untyped}/health")).json()
    assert answer["problems"] == ['failure: the asset needs a product "type" attribute: L, M or H']

    unwired = await make_asset(client, "plant/line/lathe", {"models": {"rul": "engines-rul"}})
    answer = (await client.get(f"/assets/{unwired}/health")).json()
    assert answer["problems"][0].startswith("rul: no sensor for input(s) s_")
    assert (await client.get("/assets/987654/health")).status_code == 404
