"""Training, evaluated honestly, and registered: the work behind ``shopfloor models train`` and
``models predict``.

The data comes from a file (C-MAPSS text, the AI4I CSV) or from stored readings
(``shopfloor.ml.readings_data``); either way it arrives as the same frames and is trained by the
same ``train_*_from_frame``. Each model is scored on data it never saw (whole engines held out
and cut at a random cycle for remaining useful life; a stratified split for failures), then
refitted on all of the data; the registered version carries the held-out figures as
``holdout_*`` metrics, says in its description and ``data_source`` parameter where the data came
from, and keeps a sample of its raw inputs as the reference that drift is measured against.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shopfloor.ml.frames import (
    FailureFrames,
    RulFrames,
    TrainingFrames,
    check_trainable,
    failure_frames_from_file,
    rul_frames_from_file,
)
from shopfloor.ml.readings_data import frames_from_readings
from shopfloor.ml.registry import Registry, VersionInfo, data_fingerprint, signature_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shopfloor.readings.store import ReadingStore

HOLDOUT_SHARE = 0.2
SEED = 0
MIN_KEPT_CYCLES = 30


def truncated(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Each unit cut at a random cycle, as a test set is; the true RUL of each (uncapped)."""
    rng = np.random.default_rng(seed)
    kept: list[pd.DataFrame] = []
    truth: dict[int, int] = {}
    for unit, rows in frame.groupby("unit", sort=True):
        rows = rows.sort_values("cycle")
        keep = int(rng.integers(min(MIN_KEPT_CYCLES, len(rows)), len(rows) + 1))
        kept.append(rows.iloc[:keep])
        truth[int(unit)] = len(rows) - keep
    return pd.concat(kept), pd.Series(truth, name="rul")


def held_out_engines(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Training histories, and a share of whole units kept apart and cut at random cycles,
    with their true RUL: (train, test, truth)."""
    units = np.array(sorted(frame["unit"].unique()))
    rng = np.random.default_rng(SEED)
    held = set(rng.choice(units, max(1, round(len(units) * HOLDOUT_SHARE)), replace=False))
    test, truth = truncated(frame[frame["unit"].isin(held)], SEED)
    return frame[~frame["unit"].isin(held)], test, truth


def held_out_rows(
    features: pd.DataFrame, labels: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """A stratified hold-out share of failure rows: (x_train, x_test, y_train, y_test)."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=HOLDOUT_SHARE, stratify=labels, random_state=SEED
    )
    return x_train, x_test, y_train, y_test


def failure_inputs(features: pd.DataFrame) -> pd.DataFrame:
    """A failure model's raw inputs, named as an asset's sensors are (``torque_nm`` …)."""
    from shopfloor.ml.ai4i import MEASUREMENTS

    return features[list(MEASUREMENTS)]


def rul_inputs(histories: pd.DataFrame, model: Any) -> pd.DataFrame:
    """A RUL model's raw inputs, named as an asset's sensors are (``s_2`` …)."""
    return histories[list(model.sensors)]


def train_rul_from_frame(registry: Registry, frames: RulFrames, name: str) -> VersionInfo:
    from shopfloor.ml.rul import nasa_score, rmse, train_rul

    check_trainable(frames)
    frame = frames.histories
    train, test, truth = held_out_engines(frame)
    evaluated = train_rul(train, seed=SEED)
    predicted = evaluated.predict_frame(test).set_index("unit")["rul"]
    capped = truth.clip(upper=evaluated.cap).loc[predicted.index]
    metrics = {
        "holdout_rmse": rmse(predicted.to_numpy(), capped.to_numpy()),
        "holdout_nasa_score": nasa_score(predicted.to_numpy(), capped.to_numpy()),
        "holdout_units": float(len(truth)),
        "training_rows": float(len(frame)),
    }
    model = train_rul(frame, seed=SEED)
    return registry.log_model(
        name,
        "rul",
        model,
        params=_params(model.params, cap=model.cap, data_source=frames.source),
        metrics=metrics,
        fingerprint=data_fingerprint(frame),
        signature=signature_of(model.feature_rows(frame)),
        description=f"trained on {frames.source}: {frame['unit'].nunique()} units",
        reference=rul_inputs(frame, model),
    )


def train_failure_from_frame(registry: Registry, frames: FailureFrames, name: str) -> VersionInfo:
    from sklearn.metrics import f1_score, precision_score, recall_score

    from shopfloor.ml.failure import train_failure

    check_trainable(frames)
    features, labels = frames.features, frames.labels
    x_train, x_test, y_train, y_test = held_out_rows(features, labels)
    evaluated = train_failure(x_train, y_train, seed=SEED)
    predicted = evaluated.predict(x_test)
    metrics = {
        "holdout_f1": float(f1_score(y_test, predicted)),
        "holdout_precision": float(precision_score(y_test, predicted, zero_division=0)),
        "holdout_recall": float(recall_score(y_test, predicted)),
        "training_rows": float(len(features)),
    }
    model = train_failure(features, labels, seed=SEED)
    return registry.log_model(
        name,
        "failure",
        model,
        params=_params(model.params, threshold=model.threshold, data_source=frames.source),
        metrics=metrics,
        fingerprint=data_fingerprint(features.assign(label=labels)),
        signature=signature_of(model.feature_rows(features)),
        description=f"trained on {frames.source}: {len(features)} rows",
        reference=failure_inputs(features),
    )


def _params(model_params: dict[str, Any], **more: Any) -> dict[str, Any]:
    # The seed is the same for every version, so it says nothing about one.
    return {k: v for k, v in model_params.items() if k != "seed"} | more


def train_from_frames(registry: Registry, frames: TrainingFrames, name: str) -> VersionInfo:
    """Train and register a model of the frames' kind."""
    if isinstance(frames, FailureFrames):
        return train_failure_from_frame(registry, frames, name)
    return train_rul_from_frame(registry, frames, name)


def train_rul_from_file(registry: Registry, path: Path, name: str) -> VersionInfo:
    return train_rul_from_frame(registry, rul_frames_from_file(path), name)


def train_failure_from_file(registry: Registry, path: Path, name: str) -> VersionInfo:
    return train_failure_from_frame(registry, failure_frames_from_file(path), name)


async def train_from_readings(
    session: AsyncSession,
    store: ReadingStore,
    registry: Registry,
    kind: str,
    name: str,
    *,
    under: str,
) -> VersionInfo:
    """Train a ``kind`` model from the readings of the assets at or under ``under`` and register
    it as the next version of ``name``. The training runs in a worker thread."""
    frames = await frames_from_readings(session, store, kind, under=under)
    return await asyncio.to_thread(train_from_frames, registry, frames, name)


def predict_rul_to_file(
    registry: Registry, reference: str, path: Path, out: Path
) -> tuple[VersionInfo, int]:
    from shopfloor.ml.cmapss import read_cmapss
    from shopfloor.ml.rul import RulModel

    info = registry.resolve(reference)
    model = registry.load(info, {"rul": RulModel.load})
    predictions = model.predict_frame(read_cmapss(path))
    predictions.to_csv(out, index=False, columns=["unit", "rul"], float_format="%.2f")
    return info, len(predictions)
