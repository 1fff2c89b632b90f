"""Asset health through a model server: with SHOPFLOOR_MODEL_SERVING_URL, the failure model's
predictions come from a real MLServer serving the registered version (Open Inference Protocol),
and when the server is gone they fall back to the in-process model and the metrics say so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from shopfloor.config import Settings
from shopfloor.ml.failure import FailureModel, features_from_measurements
from shopfloor.ml.registry import Registry
from shopfloor.ml.training import train_failure_from_file
from tests.fixtures.auth import SECRET_KEY
from tests.fixtures.mlserver import INSTALL_TIMEOUT_S, MLServer, mlserver
from tests.ml.test_asset_health import AI4I, T0, failing_and_healthy, make_asset, post_columns
from tests.ml.test_serving import fallbacks, predictions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]
MODEL = "pumps-served"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    if not AI4I.exists():
        pytest.skip(f"{AI4I} is not there (see ../shared/data/README.md)")
    registry = Registry.from_settings(tmp_path_factory.mktemp("models"), None)
    train_failure_from_file(registry, AI4I, MODEL)
    return registry


@pytest.fixture(scope="module")
def served(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLServer]:
    model = registry.load(registry.resolve(MODEL), {"failure": FailureModel.load})
    path = tmp_path_factory.mktemp("served") / "model.txt"
    model.booster.save_model(str(path))
    with mlserver({MODEL: path}, version="1") as server:
        yield server


@pytest.fixture
def settings(database_url: str, tmp_path: Path, registry: Registry, served: MLServer) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        log_json=False,
        secret_key=SECRET_KEY,
        mlflow_url=registry.tracking_uri,
        model_serving_url=served.base_url,
        model_serving_timeout_s=2.0,
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_health_is_served_remotely_and_falls_back_when_the_server_is_gone(
    app, client, registry, served
):
    failing, _ = failing_and_healthy()
    asset = "plant/pumps/pump-5"
    asset_id = await make_asset(client, asset, {"models": {"failure": MODEL}, "type": "L"})
    await post_columns(client, asset, pd.DataFrame([failing]).assign(ts=[T0]))
    local = registry.load(registry.resolve(MODEL), {"failure": FailureModel.load})
    expected = float(local.risk(features_from_measurements(failing.to_dict(), "L"))[0])

    remote_before = predictions(MODEL, "remote")
    health = (await client.get(f"/assets/{asset_id}/health?fresh=true")).json()
    assert health["failure_risk"] == pytest.approx(expected, abs=1e-3)
    assert predictions(MODEL, "remote") > remote_before

    served.stop()
    fell_back = fallbacks(MODEL, "error")
    health = (await client.get(f"/assets/{asset_id}/health?fresh=true")).json()
    assert health["failure_risk"] == pytest.approx(expected, abs=1e-3)
    assert fallbacks(MODEL, "error") > fell_back
