"""Retraining: a challenger trained on fresh data, compared with the champion on data neither
has seen, promoted only when it is better, and the decision kept on the challenger's version.

This is what drift leads to (``shopfloor models retrain NAME``), and what a person can run by
hand. Remaining-useful-life models are compared by RMSE on held-out engines cut at random
cycles; failure models by F1 on a stratified held-out share of the rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shopfloor.core.errors import BadRequest
from shopfloor.ml.registry import Registry, data_fingerprint, signature_of
from shopfloor.ml.training import HOLDOUT_SHARE, SEED, held_out_engines

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
    score: Callable[[Any], float]
    load: Callable[[Path], Any]


def _rul_trial(data: Path) -> Trial:
    from shopfloor.ml.cmapss import read_cmapss
    from shopfloor.ml.rul import RulModel, rmse, train_rul

    train, test, truth = held_out_engines(read_cmapss(data))

    def score(model: RulModel) -> float:
        predicted = model.predict_frame(test).set_index("unit")["rul"]
        return rmse(predicted.to_numpy(), truth.clip(upper=model.cap).loc[predicted.index])

    return Trial("holdout_rmse", True, train_rul(train, seed=SEED), train, score, RulModel.load)


def _failure_trial(data: Path) -> Trial:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    from shopfloor.ml.ai4i import read_ai4i
    from shopfloor.ml.failure import FailureModel, train_failure

    features, labels, _modes = read_ai4i(data)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=HOLDOUT_SHARE, stratify=labels, random_state=SEED
    )

    def score(model: FailureModel) -> float:
        return float(f1_score(y_test, model.predict(x_test)))

    challenger = train_failure(x_train, y_train, seed=SEED)
    return Trial("holdout_f1", False, challenger, x_train, score, FailureModel.load)


TRIALS: dict[str, Callable[[Path], Trial]] = {"rul": _rul_trial, "failure": _failure_trial}


def retrain(
    registry: Registry, name: str, data: Path, *, promote_if_better: bool = True
) -> Decision:
    """Train a challenger for ``name`` from ``data`` (the file format of the model's kind)."""
    versions = registry.versions(name)
    kind = versions[0].kind
    if kind not in TRIALS:
        raise BadRequest(f"retraining {kind or 'unknown'} models is not supported")
    champion = next((v for v in versions if "champion" in v.aliases), None)
    trial = TRIALS[kind](data)
    challenger_score = trial.score(trial.challenger)
    info = registry.log_model(
        name,
        kind,
        trial.challenger,
        params={k: v for k, v in trial.challenger.params.items() if k != "seed"},
        metrics={trial.metric: challenger_score},
        fingerprint=data_fingerprint(trial.training),
        signature=signature_of(trial.challenger.feature_rows(trial.training)),
        description=f"challenger retrained on {data.name}",
    )
    registry.promote(name, info.version, "challenger")
    champion_score = None
    if champion is not None:
        champion_score = trial.score(registry.load(champion, {kind: trial.load}))
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
