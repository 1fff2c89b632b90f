"""Training data from stored readings: the frames the file readers build, from assets' sensors.

As for an asset's health (``shopfloor.ml.health``), a model input is the asset's direct child
sensor named after it: ``…/pump-3/torque_nm``, ``…/engine-7/s_2``.

- Failure: each asset has the five measurements, a label sensor ``machine_failure`` (0/1) and
  a product ``"type"`` attribute (L, M or H). Its rows are the times at which every measurement
  and the label have a reading, so a row pairs the inputs with what happened to them.
- Remaining useful life: each asset whose attributes say ``"run_to_failure": true`` (its history
  ended in a failure) is one unit; its cycles are the times at which every input sensor has a
  reading, in order. The inputs are the C-MAPSS sensor names (``s_1`` … ``s_21``) that every
  such asset has.

An asset that cannot give rows is left out with the reason (``skipped``); when none can, or the
rows cannot train a model, BadRequest says what is missing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.errors import BadRequest
from shopfloor.core.paths import path_problem
from shopfloor.ml.ai4i import MEASUREMENTS, TARGET, TYPE, TYPES
from shopfloor.ml.cmapss import SENSORS
from shopfloor.ml.frames import FailureFrames, RulFrames, TrainingFrames, check_trainable
from shopfloor.plant import repository
from shopfloor.plant.models import Asset, Sensor
from shopfloor.readings.store import ReadingStore

log = structlog.get_logger("shopfloor.ml.readings_data")
LABEL = TARGET  # the label sensor of a failure model: machine_failure, 0 or 1
RUN_TO_FAILURE = "run_to_failure"
PAGE = 50_000  # readings fetched per query
END_US = 2**62  # "until the end of time" for a range query
SHOWN_REASONS = 5

SensorIds = dict[str, int]  # sensor id by input name, of one asset


async def frames_from_readings(
    session: AsyncSession,
    store: ReadingStore,
    kind: str,
    *,
    under: str | None = None,
    model: str | None = None,
) -> TrainingFrames:
    """The training data of a ``kind`` model from the assets at or under ``under``, or else the
    assets whose ``attributes.models`` name ``model``."""
    if under is not None:
        assets, where = await assets_under(session, under), f"under {under}"
    elif model is not None:
        assets, where = await assets_naming(session, kind, model), f"naming model {model}"
    else:
        raise BadRequest("say which assets to train on: a path, or a model they name")
    if not assets:
        raise BadRequest(f"no asset {where}")
    frames: TrainingFrames
    if kind == "failure":
        frames = await failure_frames(session, store, assets, where=where)
    elif kind == "rul":
        frames = await rul_frames(session, store, assets, where=where)
    else:
        raise BadRequest(f"training {kind or 'unknown'} models from readings is not supported")
    if frames.skipped:
        log.warning(
            "assets left out of the training data",
            source=frames.source,
            skipped=list(frames.skipped),
        )
    return frames


async def assets_under(session: AsyncSession, path: str) -> list[Asset]:
    """The asset at ``path`` and every asset below it, by path."""
    if problem := path_problem(path):
        raise BadRequest(f"{path!r} is not an asset path: {problem}")
    found: list[Asset] = []
    while batch := await repository.list_assets(
        session, path, found[-1].path if found else None, 1000
    ):
        found.extend(batch)
    return found


async def assets_naming(session: AsyncSession, kind: str, model: str) -> list[Asset]:
    """The assets whose ``attributes.models[kind]`` names ``model`` (at any alias or version)."""
    every: list[Asset] = []
    while batch := await repository.list_assets(
        session, None, every[-1].path if every else None, 1000
    ):
        every.extend(batch)
    return [asset for asset in every if _named_model(asset, kind) == model]


def _named_model(asset: Asset, kind: str) -> str | None:
    configured = (asset.attributes or {}).get("models")
    if not isinstance(configured, dict) or not configured.get(kind):
        return None
    return str(configured[kind]).partition("@")[0]


async def failure_frames(
    session: AsyncSession, store: ReadingStore, assets: Sequence[Asset], *, where: str
) -> FailureFrames:
    """``read_ai4i``'s inputs and labels from the assets' measurements and ``machine_failure``."""
    wanted = (*MEASUREMENTS, LABEL)
    sensors = await _input_sensors(session, assets, wanted)
    candidates = [a for a in assets if sensors[a.id]]
    if not candidates:
        raise BadRequest(
            f"no asset {where} has sensors named after the failure model's inputs"
            f" ({', '.join(wanted)})"
        )
    pieces: list[tuple[pd.DataFrame, pd.Series]] = []
    skipped: list[str] = []
    for asset in candidates:
        piece = await _failure_rows(session, store, asset, sensors[asset.id])
        if isinstance(piece, str):
            skipped.append(f"{asset.path}: {piece}")
        else:
            pieces.append(piece)
    if not pieces:
        raise BadRequest(f"nothing to train on {where}: {_reasons(skipped)}")
    frames = FailureFrames(
        features=pd.concat([features for features, _ in pieces], ignore_index=True),
        labels=pd.concat([labels for _, labels in pieces], ignore_index=True).rename(LABEL),
        source=_source(len(pieces), where),
        skipped=tuple(skipped),
    )
    check_trainable(frames)
    return frames


async def _failure_rows(
    session: AsyncSession, store: ReadingStore, asset: Asset, sensors: SensorIds
) -> tuple[pd.DataFrame, pd.Series] | str:
    """One asset's inputs and labels, or why it has none."""
    type_ = (asset.attributes or {}).get("type")
    if type_ not in TYPES:
        return f'needs a product "type" attribute: {", ".join(TYPES)}'
    missing = [name for name in (*MEASUREMENTS, LABEL) if name not in sensors]
    if missing:
        return f"no sensor for {', '.join(missing)}"
    table = await _joined(session, store, sensors, [*MEASUREMENTS, LABEL])
    if table.empty:
        return f"no time at which every input and {LABEL} have a reading"
    labels = table[LABEL]
    if not labels.isin([0.0, 1.0]).all():
        return f"{LABEL} holds values other than 0 and 1"
    features = pd.DataFrame(
        {TYPE: pd.Categorical([type_] * len(table), categories=list(TYPES), ordered=True)}
    )
    for name in MEASUREMENTS:
        features[name] = table[name].to_numpy(dtype="float64")
    return features, pd.Series(labels.to_numpy(dtype="int64"), name=LABEL)


async def rul_frames(
    session: AsyncSession, store: ReadingStore, assets: Sequence[Asset], *, where: str
) -> RulFrames:
    """``read_cmapss``'s histories: one unit per run-to-failure asset, one cycle per time at
    which every input has a reading."""
    sensors = await _input_sensors(session, assets, SENSORS)
    candidates = [a for a in assets if sensors[a.id]]
    if not candidates:
        raise BadRequest(f"no asset {where} has sensors named after RUL inputs (s_1 … s_21)")
    skipped = [
        f"{a.path}: its history has not ended in a failure ({RUN_TO_FAILURE} is not true)"
        for a in candidates
        if (a.attributes or {}).get(RUN_TO_FAILURE) is not True
    ]
    units = [a for a in candidates if (a.attributes or {}).get(RUN_TO_FAILURE) is True]
    if not units:
        raise BadRequest(
            f"no asset {where} is marked {RUN_TO_FAILURE}: true (a history that ended in a failure)"
        )
    shared = set.intersection(*(set(sensors[a.id]) for a in units))
    inputs = [name for name in SENSORS if name in shared]
    if not inputs:
        raise BadRequest(f"the run-to-failure assets {where} have no input sensor in common")
    histories: list[pd.DataFrame] = []
    for asset in units:
        table = await _joined(session, store, sensors[asset.id], inputs)
        if table.empty:
            skipped.append(f"{asset.path}: no time at which every input has a reading")
            continue
        history = table.reset_index(drop=True)
        history.insert(0, "cycle", np.arange(1, len(history) + 1, dtype=np.int64))
        history.insert(0, "unit", np.int64(asset.id))
        histories.append(history)
    if not histories:
        raise BadRequest(f"nothing to train on {where}: {_reasons(skipped)}")
    frames = RulFrames(
        histories=pd.concat(histories).sort_values(["unit", "cycle"], ignore_index=True),
        source=_source(len(histories), where),
        skipped=tuple(skipped),
    )
    check_trainable(frames)
    return frames


async def _input_sensors(
    session: AsyncSession, assets: Sequence[Asset], names: Sequence[str]
) -> dict[int, SensorIds]:
    """Each asset's direct child sensors whose names are among ``names``."""
    wanted = set(names)
    found: dict[int, SensorIds] = defaultdict(dict)
    ids = [asset.id for asset in assets]
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(Sensor.asset_id, Sensor.path, Sensor.id).where(
                Sensor.asset_id.in_(ids[start : start + 500])
            )
        )
        for asset_id, path, sensor_id in rows.all():
            if (name := path.rsplit("/", 1)[-1]) in wanted:
                found[asset_id][name] = sensor_id
    return found


async def _joined(
    session: AsyncSession, store: ReadingStore, sensors: SensorIds, names: Sequence[str]
) -> pd.DataFrame:
    """The readings of ``names`` side by side at the times at which every one has a reading,
    oldest first: an inner join on the timestamp."""
    columns = [await _series(session, store, sensors[name]) for name in names]
    table = pd.concat(columns, axis=1, join="inner", keys=list(names))
    return table.sort_index()


async def _series(session: AsyncSession, store: ReadingStore, sensor_id: int) -> pd.Series:
    """Every reading of a sensor, indexed by its time in microseconds."""
    times: list[int] = []
    values: list[float] = []
    start = 0
    while True:
        rows = await store.range(session, sensor_id, start, END_US, PAGE)
        times.extend(ts for ts, _ in rows)
        values.extend(value for _, value in rows)
        if len(rows) < PAGE:
            break
        start = rows[-1][0] + 1
    return pd.Series(values, index=pd.Index(times, dtype="int64"), dtype="float64")


def _source(assets: int, where: str) -> str:
    return f"readings of {assets} asset{'s' if assets != 1 else ''} {where}"


def _reasons(skipped: Sequence[str]) -> str:
    shown = "; ".join(skipped[:SHOWN_REASONS])
    more = len(skipped) - SHOWN_REASONS
    return shown + (f"; and {more} more" if more > 0 else "")
