"""Retraining: a challenger trained on fresh data, compared with the champion on data neither
has seen, promoted only when it is better, and the decision kept on the challenger's version.

This is what drift leads to (``shopfloor models retrain NAME``), and what a person can run by
hand. The fresh data is a file or the stored readings of assets (``retrain_from_readings``).
Remaining-useful-life models are compared by RMSE on held-out engines cut at random cycles;
failure models by F1 on a stratified held-out share of the rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from shopfloor.core.errors import BadRequest
from shopfloor.ml.frames import (
    FailureFrames,
    RulFrames,
    TrainingFrames,
    check_trainable,
    frames_from_file,
)
from shopfloor.ml.readings_data import frames_from_readings
from shopfloor.ml.registry import Registry, data_fingerprint, signature_of
from shopfloor.ml.training import (
    SEED,
    failure_inputs,
    held_out_engines,
    held_out_rows,
    rul_inputs,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shopfloor.readings.store import ReadingStore

DECISION_TAG = "shopfloor.retrain_decision"


@dataclass(frozen=True)
class Decision:
    model: str
    challenger: int
    champion: int | None
    metric: str
    challenger_score: float
    champion_score: float | None
    promoted: bool
    reason: str
    decided_at: float


@dataclass(frozen=True)
class Trial:
    """How one kind of model is trained and judged on the same held-out data."""

    metric: str
    lower_is_better: bool
    challenger: Any
    training: pd.DataFrame
    inputs: pd.DataFrame  # the challenger's raw training inputs: its drift reference
    score: Callable[[Any], float]
    load: Callable[[Path], Any]


def _rul_trial(frames: RulFrames) -> Trial:
    from shopfloor.ml.rul import RulModel, rmse, train_rul

    train, test, truth = held_out_engines(frames.histories)

    def score(model: RulModel) -> float:
        missing = [name for name in model.sensors if name not in test.columns]
        if missing:
            raise BadRequest(
                f"{frames.source} lack the input(s) {', '.join(missing)} of the model to score"
            )
        predicted = model.predict_frame(test).set_index("unit")["rul"]
        return rmse(predicted.to_numpy(), truth.clip(upper=model.cap).loc[predicted.index])

    challenger = train_rul(train, seed=SEED)
    inputs = rul_inputs(train, challenger)
    return Trial("holdout_rmse", True, challenger, train, inputs, score, RulModel.load)


def _failure_trial(frames: FailureFrames) -> Trial:
    from sklearn.metrics import f1_score

    from shopfloor.ml.failure import FailureModel, train_failure

    x_train, x_test, y_train, y_test = held_out_rows(frames.features, frames.labels)

    def score(model: FailureModel) -> float:
        return float(f1_score(y_test, model.predict(x_test)))

    challenger = train_failure(x_train, y_train, seed=SEED)
    inputs = failure_inputs(x_train)
    return Trial("holdout_f1", False, challenger, x_train, inputs, score, FailureModel.load)


def _trial(frames: TrainingFrames) -> Trial:
    if isinstance(frames, FailureFrames):
        return _failure_trial(frames)
    return _rul_trial(frames)


KINDS = ("rul", "failure")


def retrain(
    registry: Registry,
    name: str,
    data: Path | TrainingFrames,
    *,
    promote_if_better: bool = True,
) -> Decision:
    """Train a challenger for ``name`` from ``data``: a file in the format of the model's kind,
    or frames from stored readings (``shopfloor.ml.readings_data``)."""
    versions = registry.versions(name)
    kind = versions[0].kind
    if kind not in KINDS:
        raise BadRequest(f"retraining {kind or 'unknown'} models is not supported")
    frames = frames_from_file(kind, data) if isinstance(data, Path) else data
    if frames.kind != kind:
        raise BadRequest(f"{name} holds {kind} models; {frames.source} is {frames.kind} data")
    check_trainable(frames)
    champion = next((v for v in versions if "champion" in v.aliases), None)
    trial = _trial(frames)
    champion_score = None
    if champion is not None:  # scored first: data the champion cannot read registers nothing
        champion_score = trial.score(registry.load(champion, {kind: trial.load}))
    challenger_score = trial.score(trial.challenger)
    info = registry.log_model(
        name,
        kind,
        trial.challenger,
        params={k: v for k, v in trial.challenger.params.items() if k != "seed"}
        | {"data_source": frames.source},
        metrics={trial.metric: challenger_score},
        fingerprint=data_fingerprint(trial.training),
        signature=signature_of(trial.challenger.feature_rows(trial.training)),
        description=f"challenger retrained on {frames.source}",
        reference=trial.inputs,
    )
    registry.promote(name, info.version, "challenger")
    better, reason = _judge(trial, challenger_score, champion_score)
    promoted = better and promote_if_better
    if better and not promote_if_better:
        reason += "; promotion is off"
    if promoted:
        registry.promote(name, info.version, "champion")
    decision = Decision(
        model=name,
        challenger=info.version,
        champion=champion.version if champion is not None else None,
        metric=trial.metric,
        challenger_score=challenger_score,
        champion_score=champion_score,
        promoted=promoted,
        reason=reason,
        decided_at=time.time(),
    )
    registry.record(name, info.version, DECISION_TAG, asdict(decision))
    return decision


async def retrain_from_readings(
    session: AsyncSession,
    store: ReadingStore,
    registry: Registry,
    name: str,
    *,
    under: str | None = None,
    promote_if_better: bool = True,
) -> Decision:
    """``retrain`` on the stored readings of the assets at or under ``under``, or else of the
    assets whose ``attributes.models`` name the model. Reads in the session (never commits);
    the registry and the training run in a worker thread, so the event loop never blocks."""
    versions = await asyncio.to_thread(registry.versions, name)
    frames = await frames_from_readings(session, store, versions[0].kind, under=under, model=name)
    return await asyncio.to_thread(
        retrain, registry, name, frames, promote_if_better=promote_if_better
    )


def _judge(trial: Trial, challenger_score: float, champion_score: float | None) -> tuple[bool, str]:
    """Whether the challenger is better, and why, in the metric's own words."""
    if champion_score is None:
        return True, "there was no champion"
    label = trial.metric.removeprefix("holdout_").upper()
    if trial.lower_is_better:
        better = challenger_score < champion_score
    else:
        better = challenger_score > champion_score
    relation = ("<" if trial.lower_is_better else ">") if better else "does not beat"
    return better, f"{label} {challenger_score:.3f} {relation} champion's {champion_score:.3f}"
