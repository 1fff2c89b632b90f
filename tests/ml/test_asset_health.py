"""Asset health: remaining useful life and failure risk from an asset's own readings, by the
models its attributes name (registered in a real embedded MLflow store) — worked out on request
(``GET /assets/{id}/health?fresh=true``) and by the pipeline's health stage as readings arrive,
which raises and clears failure_risk alarms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from shopfloor.config import Settings
from shopfloor.ml.ai4i import read_ai4i
from shopfloor.ml.cmapss import read_cmapss
from shopfloor.ml.registry import Registry, data_fingerprint, signature_of
from shopfloor.ml.rul import RulModel, train_rul
from shopfloor.ml.training import train_failure_from_file
from tests.connectors.helpers import eventually
from tests.fixtures.auth import SECRET_KEY

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


@pytest.fixture
def settings(database_url: str, tmp_path: Path, registry: Registry) -> Settings:
    """The app and its health stage open the module's registry; health is worked out at most
    every 0.1 s."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        log_json=False,
        secret_key=SECRET_KEY,
        mlflow_url=registry.tracking_uri,
        health_every_s=0.1,
    )


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
    model = registry.load(registry.resolve("engines-rul"), {"rul": RulModel.load})
    engine = read_cmapss(FD001).query("unit == 41")
    seen = engine.iloc[:120]
    asset = "fleet/engines/engine-41"
    asset_id = await make_asset(client, asset, {"models": {"rul": "engines-rul"}})
    readings = seen[model.sensors].assign(ts=[T0 + 60 * c for c in seen["cycle"]])
    await post_columns(client, asset, readings)

    health = (await client.get(f"/assets/{asset_id}/health?fresh=true")).json()

    truth = min(len(engine) - len(seen), model.cap)
    assert health["models"] == {"rul": {"name": "engines-rul", "version": 1}}
    assert abs(health["rul"] - truth) < 35, (health["rul"], truth)
    assert health["failure_risk"] is None and health["problems"] == []
    assert health["updated_at"].startswith("2026-01-01T02:00:00")  # cycle 120, a minute each

    # The health stage worked out the same from the same readings, without being asked.
    async def stored() -> dict[str, Any] | None:
        found = (await client.get(f"/assets/{asset_id}/health")).json()
        return found if found["rul"] is not None else None

    kept = await eventually(stored, "the health stage's RUL")
    assert kept["rul"] == pytest.approx(health["rul"]) and kept["computed_at"] is not None


MEASUREMENTS = ["air_temp_k", "process_temp_k", "speed_rpm", "torque_nm", "tool_wear_min"]


def failing_and_healthy() -> tuple[pd.Series, pd.Series]:
    """The measurements of a type-L heat-dissipation failure, and of a healthy type-L run."""
    features, labels, modes = read_ai4i(AI4I)
    heat_failure = features[(modes["HDF"] == 1) & (features["type"] == "L")].iloc[0]
    healthy = features[(labels == 0) & (features["type"] == "L")].iloc[0]
    return heat_failure[MEASUREMENTS], healthy[MEASUREMENTS]


def readings_at(asset: str, measurements: pd.Series, ts: int) -> dict[str, Any]:
    return {
        "series": [
            {"sensor": f"{asset}/{name}", "ts": [ts], "values": [float(measurements[name])]}
            for name in MEASUREMENTS
        ]
    }


async def test_a_long_life_is_read_as_its_start_and_its_recent_history(
    app, client, registry, monkeypatch
):
    from shopfloor.ml import health as health_module

    model = registry.load(registry.resolve("engines-rul"), {"rul": RulModel.load})
    engine = read_cmapss(FD001).query("unit == 69")  # 362 cycles, the longest of FD001
    asset = "fleet/engines/engine-69"
    asset_id = await make_asset(client, asset, {"models": {"rul": "engines-rul"}})
    readings = engine[model.sensors].assign(ts=[T0 + 60 * c for c in engine["cycle"]])
    await post_columns(client, asset, readings)
    whole = (await client.get(f"/assets/{asset_id}/health?fresh=true")).json()

    # Read as its first 40 cycles and its last 150: the 172 between are counted, not read.
    monkeypatch.setattr(health_module, "HEAD_CYCLES", 40)
    monkeypatch.setattr(health_module, "HISTORY_CYCLES", 150)
    async with app.state.db.read() as session:
        ids = [
            (await client.get("/sensors", params={"under": f"{asset}/{name}"})).json()["items"][0][
                "id"
            ]
            for name in model.sensors[:1]
        ]
        history, skipped = await health_module._history(session, app.state.store, ids)
    assert len(history) == 190 and skipped == 172
    cut = (await client.get(f"/assets/{asset_id}/health?fresh=true")).json()

    assert whole["rul"] < 20  # near the end of its life
    assert abs(cut["rul"] - whole["rul"]) < 10, (cut["rul"], whole["rul"])
    assert cut["updated_at"] == whole["updated_at"]


async def test_failure_risk_from_a_pumps_latest_measurements(app, client, registry):
    failing, healthy = failing_and_healthy()
    asset = "plant/pumps/pump-1"
    asset_id = await make_asset(
        client, asset, {"models": {"failure": "pumps-failure"}, "type": "L"}
    )
    await post_columns(client, asset, pd.DataFrame([failing]).assign(ts=[T0]))
    risky = (await client.get(f"/assets/{asset_id}/health?fresh=true")).json()
    assert risky["failure_risk"] > 0.5, risky

    later = readings_at(asset, healthy, T0 + 60)
    assert (await client.post("/readings", json=later)).status_code == 202
    calm = (await client.get(f"/assets/{asset_id}/health?fresh=true")).json()
    assert calm["failure_risk"] < 0.1, calm
    assert calm["models"] == {"failure": {"name": "pumps-failure", "version": 1}}


async def test_what_is_missing_is_said(app, client, registry):
    bare = await make_asset(client, "plant/line/press", {})
    answer = (await client.get(f"/assets/{bare}/health?fresh=true")).json()
    assert answer["rul"] is None and "names no models" in answer["problems"][0]

    untyped = await make_asset(client, "plant/line/drill", {"models": {"failure": "pumps-failure"}})
    answer = (await client.get(f"/assets/{untyped}/health?fresh=true")).json()
    assert answer["problems"] == ['failure: the asset needs a product "type" attribute: L, M or H']

    unwired = await make_asset(client, "plant/line/lathe", {"models": {"rul": "engines-rul"}})
    answer = (await client.get(f"/assets/{unwired}/health?fresh=true")).json()
    assert answer["problems"][0].startswith("rul: no sensor for input(s) s_")
    assert (await client.get("/assets/987654/health")).status_code == 404


async def test_the_pipeline_keeps_health_and_raises_a_failure_risk_alarm(app, client, registry):
    failing, healthy = failing_and_healthy()
    asset = "plant/pumps/pump-7"
    asset_id = await make_asset(
        client, asset, {"models": {"failure": "pumps-failure"}, "type": "L"}
    )
    await post_columns(client, asset, pd.DataFrame([failing]).assign(ts=[T0]))

    async def alarms(state: str) -> list[dict[str, Any]]:
        found = await client.get("/alarms", params={"under": asset, "state": state})
        return [a for a in found.json()["items"] if a["kind"] == "failure_risk"]

    [alarm] = await eventually(lambda: alarms("open"), "a failure_risk alarm on the pump")
    assert alarm["asset"] == asset_id and alarm["sensor"] is None
    assert alarm["path"] == asset and alarm["rule"] == "failure_risk"
    assert alarm["severity"] == "warning" and alarm["value"] > 0.5
    assert "pumps-failure v1" in alarm["message"]
    stored = (await client.get(f"/assets/{asset_id}/health")).json()
    assert stored["failure_risk"] > 0.5 and stored["updated_at"].startswith("2026-01-01T00:00:00")
    assert stored["computed_at"] is not None

    later = readings_at(asset, healthy, T0 + 60)
    assert (await client.post("/readings", json=later)).status_code == 202

    async def calm_health() -> dict[str, Any] | None:
        health = (await client.get(f"/assets/{asset_id}/health")).json()
        return health if health["failure_risk"] < 0.1 else None

    await eventually(calm_health, "the stored failure risk to fall")
    [resolved] = await eventually(lambda: alarms("resolved"), "the alarm to resolve")
    assert resolved["id"] == alarm["id"] and resolved["resolution"] == "condition"


async def test_a_failure_risk_rule_sets_threshold_and_severity(app, client, registry):
    failing, _ = failing_and_healthy()
    bad = await client.post(
        "/alarm-rules",
        json={
            "name": "pumps-risk",
            "scope": "plant/pumps",
            "kind": "failure_risk",
            "params": {"threshold": 0.6, "clear_below": 0.7},
            "severity": "critical",
        },
    )
    assert bad.status_code == 422 and "clear_below" in bad.text
    rule = {
        "name": "pumps-risk",
        "scope": "plant/pumps",
        "kind": "failure_risk",
        "params": {"threshold": 0.3},
        "severity": "critical",
    }
    assert (await client.post("/alarm-rules", json=rule)).status_code == 201
    asset = "plant/pumps/pump-9"
    await make_asset(client, asset, {"models": {"failure": "pumps-failure"}, "type": "L"})
    await post_columns(client, asset, pd.DataFrame([failing]).assign(ts=[T0]))

    async def opened() -> list[dict[str, Any]]:
        found = await client.get("/alarms", params={"under": asset})
        return found.json()["items"]

    [alarm] = await eventually(opened, "the rule's alarm")
    assert alarm["rule"] == "pumps-risk" and alarm["severity"] == "critical"
    assert "at or above 30%" in alarm["message"]
