"""An asset's health: its failure risk and remaining useful life, from its own readings.

An asset names its models in its attributes, ``{"models": {"rul": "engine-rul",
"failure": "pump-failure@champion"}}`` (a name alone means the champion, else the newest
version), and ``"type": "L" | "M" | "H"`` for a failure model. A model's inputs are the
asset's sensors named after them: ``…/engine-7/s_2`` feeds the RUL model's input ``s_2``,
``…/pump-3/torque_nm`` the failure model's torque. Remaining useful life is predicted at the
latest time every input has a reading, over the history of such times (one per cycle); failure
risk from the latest reading of each measurement.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.errors import ShopfloorError
from shopfloor.core.paths import parent_path
from shopfloor.ml.registry import Registry, VersionInfo
from shopfloor.ml.serving import FallbackPredictor, InProcessPredictor, Predictor
from shopfloor.ml.serving_remote import RemotePredictor
from shopfloor.plant import repository
from shopfloor.plant.models import Asset
from shopfloor.readings.store import ReadingStore

HISTORY_CYCLES = 5_000  # the recent cycles read back for the RUL history
HEAD_CYCLES = 100  # and the first ones (the features' start of life is the first 20)
DAY_US = 86_400_000_000
KINDS = ("rul", "failure")


def names_models(attributes: object) -> bool:
    """Whether an asset's attributes name any model (``{"models": {"rul": …}}``)."""
    if not isinstance(attributes, dict):
        return False
    configured = attributes.get("models")
    return isinstance(configured, dict) and any(configured.get(kind) for kind in KINDS)


class ModelCache:
    """Loaded models by name and version (loading one reads its files from the registry), and
    the predictor each runs on: in process, or with ``serving_url`` an Open Inference Protocol
    server serving the version as ``<name>`` version ``<version>``, behind a circuit breaker
    that falls back to the in-process model."""

    def __init__(self, serving_url: str | None = None, timeout_s: float = 1.0) -> None:
        self.serving_url = serving_url
        self.timeout_s = timeout_s
        self._models: dict[tuple[str, int], Any] = {}
        self._predictors: dict[tuple[str, int], Predictor] = {}

    async def get(self, registry: Registry, reference: str, kind: str) -> tuple[VersionInfo, Any]:
        def load() -> tuple[VersionInfo, Any]:
            from shopfloor.ml.failure import FailureModel
            from shopfloor.ml.rul import RulModel

            info = registry.resolve(reference)
            key = (info.name, info.version)
            if key not in self._models:
                loader = {"rul": RulModel.load, "failure": FailureModel.load}[kind]
                self._models[key] = registry.load(info, {kind: loader})
            return info, self._models[key]

        return await asyncio.to_thread(load)

    def predictor(self, info: VersionInfo, model: Any) -> Predictor:
        key = (info.name, info.version)
        if key not in self._predictors:
            local = InProcessPredictor(model.booster, model_name=info.name)
            if self.serving_url is None:
                self._predictors[key] = local
            else:
                # FP64 on the wire: features rounded to FP32 can land on the other side of a
                # split (AI4I's heat-dissipation failures sit at a temperature difference of
                # exactly 8.6 K), and the remote would disagree with the in-process model.
                remote = RemotePredictor(
                    self.serving_url,
                    info.name,
                    str(info.version),
                    timeout_s=self.timeout_s,
                    datatype="FP64",
                )
                self._predictors[key] = FallbackPredictor(remote, local, model=info.name)
        return self._predictors[key]


async def asset_health(
    session: AsyncSession,
    store: ReadingStore,
    registry: Registry,
    cache: ModelCache,
    asset: Asset,
) -> dict[str, Any]:
    configured = (asset.attributes or {}).get("models") or {}
    answer: dict[str, Any] = {
        "asset": asset.id,
        "path": asset.path,
        "failure_risk": None,
        "rul": None,
        "models": {},
        "updated_at": None,
        "problems": [],
    }
    if not names_models(asset.attributes):
        answer["problems"].append('the asset names no models (attributes.models: {"rul": …})')
        return answer
    sensors = await repository.list_sensors(session, asset.path, None, None)
    by_input = {
        s.path.rsplit("/", 1)[-1]: s.id for s in sensors if parent_path(s.path) == asset.path
    }
    latest: list[int] = []
    for kind in KINDS:
        reference = configured.get(kind)
        if not reference:
            continue
        try:
            info, model = await cache.get(registry, str(reference), kind)
        except ShopfloorError as exc:  # a model renamed or deleted: say so, keep the other
            answer["problems"].append(f"{kind}: {exc}")
            continue
        answer["models"][kind] = {"name": info.name, "version": info.version}
        if kind == "rul":
            predictor = cache.predictor(info, model)
            value, at, problem = await _rul(session, store, model, predictor, by_input)
            answer["rul"] = value
        else:
            type_ = (asset.attributes or {}).get("type")
            predictor = cache.predictor(info, model)
            value, at, problem = await _risk(session, store, model, predictor, by_input, type_)
            answer["failure_risk"] = value
        if problem:
            answer["problems"].append(f"{kind}: {problem}")
        if at is not None:
            latest.append(at)
    if latest:
        answer["updated_at"] = dt.datetime.fromtimestamp(max(latest) / 1e6, tz=dt.UTC)
    return answer


async def _rul(
    session: AsyncSession,
    store: ReadingStore,
    model: Any,
    predictor: Predictor,
    by_input: dict[str, int],
) -> tuple[float | None, int | None, str | None]:
    missing = [name for name in model.sensors if name not in by_input]
    if missing:
        return None, None, f"no sensor for input(s) {', '.join(missing)}"
    history, skipped = await _history(session, store, [by_input[n] for n in model.sensors])
    if history.empty:
        return None, None, "no time at which every input has a reading yet"
    history.columns = list(model.sensors)
    frame = history.reset_index(drop=True)
    cycles = np.arange(1, len(frame) + 1)
    cycles[HEAD_CYCLES:] += skipped
    frame.insert(0, "cycle", cycles)
    frame.insert(0, "unit", 1)
    rows = await asyncio.to_thread(model.feature_rows, frame)
    raw = await predictor.predict(rows[model.features].to_numpy("float64"))
    rul = float(min(max(float(raw[-1]), 0.0), float(model.cap)))
    return rul, int(history.index.max()), None


async def _history(
    session: AsyncSession, store: ReadingStore, sensor_ids: list[int]
) -> tuple[Any, int]:
    """The times at which every input was read (one per cycle), with their values, and how
    many such times were left out between the start of life and the recent history.

    A long life is read as its first ``HEAD_CYCLES`` (the features' start-of-life baseline)
    and its last ``HISTORY_CYCLES``: the cycle count of the recent rows then comes from the
    number of readings left out, counted from the rollups.
    """
    import pandas as pd  # only when a model runs: the application starts without it

    heads, tails = [], []
    for sensor_id in sensor_ids:
        tail = await store.range(session, sensor_id, 0, 2**62, HISTORY_CYCLES, newest_first=True)
        head = await store.range(session, sensor_id, 0, 2**62, HEAD_CYCLES)
        heads.append(pd.Series(dict(head), dtype="float64"))
        tails.append(pd.Series(dict(tail), dtype="float64"))
    head_frame = pd.concat(heads, axis=1).dropna()
    tail_frame = pd.concat(tails, axis=1).dropna()
    joined = pd.concat([head_frame, tail_frame[~tail_frame.index.isin(head_frame.index)]])
    joined = joined.sort_index()
    if tail_frame.empty or head_frame.empty or tail_frame.index.min() <= head_frame.index.max():
        return joined, 0  # the whole life was read
    gap_start, gap_end = int(head_frame.index.max()) + 1, int(tail_frame.index.min())
    left_out = await store.aggregate(session, sensor_ids[0], gap_start, gap_end, DAY_US)
    return joined, int(left_out.counts.sum())


async def _risk(
    session: AsyncSession,
    store: ReadingStore,
    model: Any,
    predictor: Predictor,
    by_input: dict[str, int],
    type_: object,
) -> tuple[float | None, int | None, str | None]:
    from shopfloor.ml.ai4i import MEASUREMENTS
    from shopfloor.ml.failure import features_from_measurements

    if type_ not in ("L", "M", "H"):
        return None, None, 'the asset needs a product "type" attribute: L, M or H'
    missing = [name for name in MEASUREMENTS if name not in by_input]
    if missing:
        return None, None, f"no sensor for input(s) {', '.join(missing)}"
    ids = {by_input[name]: name for name in MEASUREMENTS}
    found = {
        ids[sensor_id]: (ts, value)
        for sensor_id, ts, value in await store.latest(session, list(ids))
    }
    if len(found) < len(ids):
        unread = ", ".join(sorted(set(ids.values()) - set(found)))
        return None, None, f"no reading yet for {unread}"
    row = features_from_measurements({k: v for k, (_, v) in found.items()}, str(type_))
    features = model.feature_rows(row)[model.features].to_numpy("float64")
    risk = float((await predictor.predict(features))[0])
    return risk, max(ts for ts, _ in found.values()), None
