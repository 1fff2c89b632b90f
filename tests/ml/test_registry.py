"""The model registry on an embedded MLflow store, through the library and the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from shopfloor.core.errors import Conflict, NotFound
from shopfloor.ml.registry import Registry, data_fingerprint, signature_of


class Constant:
    """A stand-in model: its files are one number."""

    def __init__(self, value: float) -> None:
        self.value = value

    def save(self, folder: Path) -> None:
        (folder / "constant.json").write_text(json.dumps({"value": self.value}))

    @classmethod
    def load(cls, folder: Path) -> Constant:
        return cls(json.loads((folder / "constant.json").read_text())["value"])


TRAINING = pd.DataFrame({"speed": [1500.0, 1520.0], "torque": [40.1, 39.8]})


def register(registry: Registry, name: str, value: float, kind: str = "rul") -> int:
    info = registry.log_model(
        name,
        kind,
        Constant(value),
        params={"value": value},
        metrics={"holdout_rmse": value},
        fingerprint=data_fingerprint(TRAINING),
        signature=signature_of(TRAINING),
    )
    return info.version


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    # MLflow migrates a fresh store in seconds: one store for the module, a name per test.
    yield Registry.from_settings(tmp_path_factory.mktemp("models"), None)


def test_versions_carry_what_they_were_trained_on(registry: Registry):
    first = register(registry, "press-rul", 12.0)
    second = register(registry, "press-rul", 11.0)
    assert (first, second) == (1, 2)
    [newest, oldest] = registry.versions("press-rul")
    assert (newest.version, oldest.version) == (2, 1)
    assert newest.kind == "rul"
    assert newest.params == {"value": "11.0"} and newest.metrics == {"holdout_rmse": 11.0}
    assert newest.tags["shopfloor.data_fingerprint"] == data_fingerprint(TRAINING)
    assert data_fingerprint(TRAINING) != data_fingerprint(TRAINING.iloc[:1])
    assert registry.load(newest, {"rul": Constant.load}).value == 11.0


def test_promote_and_roll_back_move_the_alias(registry: Registry):
    for value in (3.0, 2.0, 1.0):
        register(registry, "pump-rul", value)
    # Without a champion, the newest version answers.
    assert registry.resolve("pump-rul").version == 3
    registry.promote("pump-rul", 1)
    registry.promote("pump-rul", 3)
    registry.promote("pump-rul", 2, "challenger")
    assert registry.resolve("pump-rul").version == 3
    assert registry.resolve("pump-rul@challenger").version == 2
    assert registry.resolve("pump-rul@1").version == 1
    assert registry.rollback("pump-rul").version == 1
    assert registry.resolve("pump-rul@champion").version == 1
    assert {v.version: v.aliases for v in registry.versions("pump-rul")} == {
        3: [],
        2: ["challenger"],
        1: ["champion"],
    }
    with pytest.raises(Conflict, match="no earlier version"):
        registry.rollback("pump-rul")


def test_unknown_names_versions_and_kinds_are_refused(registry: Registry):
    register(registry, "fan-failure", 0.5, kind="failure")
    with pytest.raises(NotFound):
        registry.versions("no-such-model")
    with pytest.raises(NotFound):
        registry.version("fan-failure", 9)
    with pytest.raises(NotFound):
        registry.resolve("fan-failure@challenger")
    with pytest.raises(Conflict, match="failure models, not rul"):
        register(registry, "fan-failure", 1.0, kind="rul")
    with pytest.raises(Conflict, match="is a failure model"):
        registry.load(registry.resolve("fan-failure"), {"rul": Constant.load})


async def test_the_api_lists_models_and_moves_aliases(
    app, client: httpx.AsyncClient, registry, backend
):
    app.state.registry = registry
    name = f"line-rul-{backend}"  # one store for the module: a name per run
    register(registry, name, 9.0)
    register(registry, name, 8.0)

    listed = (await client.get("/models")).json()["items"]
    line = next(item for item in listed if item["name"] == name)
    assert line["kind"] == "rul" and line["versions"] == 2 and line["aliases"] == {}

    versions = (await client.get(f"/models/{name}/versions")).json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["metrics"] == {"holdout_rmse": 8.0}
    assert versions[0]["data_fingerprint"].startswith("sha256:")

    promoted = await client.post(f"/models/{name}/aliases", json={"version": 1})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["aliases"] == ["champion"]
    assert (await client.post(f"/models/{name}/aliases", json={"version": 2})).status_code == 200
    back = await client.post(f"/models/{name}/aliases", json={"alias": "champion"})
    assert back.json()["version"] == 1

    missing = await client.get("/models/nothing-here/versions")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = await client.post(f"/models/{name}/aliases", json={"alias": "king", "version": 1})
    assert bad.status_code == 422
    unknown = await client.post(f"/models/{name}/aliases", json={"version": 7})
    assert unknown.status_code == 404
