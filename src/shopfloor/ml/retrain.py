"""Retraining: a challenger trained on fresh data, compared with the champion on data neither
has seen, promoted only when it is better, and the decision kept on the challenger's version.

This is what a drift alarm leads to (``shopfloor models retrain NAME``), and what a person can
run by hand.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shopfloor.core.errors import BadRequest
from shopfloor.ml.registry import Registry, VersionInfo, data_fingerprint, signature_of
from shopfloor.ml.training import SEED, held_out_engines

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


def retrain(
    registry: Registry, name: str, data: Path, *, promote_if_better: bool = True
) -> Decision:
    """Train a challenger for ``name`` from ``data`` (the format of the model's kind)."""
    versions = registry.versions(name)
    kind = versions[0].kind
    champion = next((v for v in versions if "champion" in v.aliases), None)
    if kind == "rul":
        return _retrain_rul(registry, name, data, champion, promote_if_better)
    raise BadRequest(f"retraining {kind or 'unknown'} models from a file is not supported")


def _retrain_rul(
    registry: Registry,
    name: str,
    data: Path,
    champion: VersionInfo | None,
    promote_if_better: bool,
) -> Decision:
    from shopfloor.ml.cmapss import read_cmapss
    from shopfloor.ml.rul import RulModel, rmse, train_rul

    train, test, truth = held_out_engines(read_cmapss(data))
    challenger_model = train_rul(train, seed=SEED)

    def score(model: RulModel) -> float:
        predicted = model.predict_frame(test).set_index("unit")["rul"]
        return rmse(predicted.to_numpy(), truth.clip(upper=model.cap).loc[predicted.index])

    challenger_score = score(challenger_model)
    info = registry.log_model(
        name,
        "rul",
        challenger_model,
        params={k: v for k, v in challenger_model.params.items() if k != "seed"},
        metrics={"holdout_rmse": challenger_score},
        fingerprint=data_fingerprint(train),
        signature=signature_of(challenger_model.feature_rows(train)),
        description=f"challenger retrained on {data.name}",
    )
    registry.promote(name, info.version, "challenger")
    champion_score = None
    if champion is not None:
        champion_score = score(registry.load(champion, {"rul": RulModel.load}))
    better = champion_score is None or challenger_score < champion_score
    promoted = better and promote_if_better
    if champion is None:
        reason = "there was no champion"
    elif better:
        reason = f"RMSE {challenger_score:.2f} < champion's {champion_score:.2f}"
    else:
        reason = f"RMSE {challenger_score:.2f} ≥ champion's {champion_score:.2f}"
    if better and not promote_if_better:
        reason += "; promotion is off"
    if promoted:
        registry.promote(name, info.version, "champion")
    decision = Decision(
        model=name,
        challenger=info.version,
        champion=champion.version if champion is not None else None,
        metric="holdout_rmse",
        challenger_score=challenger_score,
        champion_score=champion_score,
        promoted=promoted,
        reason=reason,
        decided_at=time.time(),
    )
    registry.record(name, info.version, DECISION_TAG, asdict(decision))
    return decision
