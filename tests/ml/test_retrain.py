"""Retraining on C-MAPSS engines: a challenger is registered, compared with the champion on
held-out engines, promoted only when better, and the decision is kept on its version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopfloor.ml.registry import Registry
from shopfloor.ml.retrain import DECISION_TAG, retrain
from shopfloor.ml.training import train_failure_from_file, train_rul_from_file

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FD001 = DATA / "cmapss" / "train_FD001.txt"
AI4I = DATA / "ai4i2020" / "ai4i2020.csv"


def engines(target: Path, first: int, last: int) -> Path:
    """A file with the engines first..last of FD001."""
    lines = [
        line
        for line in FD001.read_text().splitlines()
        if line.strip() and first <= int(line.split()[0]) <= last
    ]
    target.write_text("\n".join(lines) + "\n")
    return target


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry.from_settings(tmp_path_factory.mktemp("models"), None)


@pytest.fixture(autouse=True)
def data_present() -> None:
    for path in (FD001, AI4I):
        if not path.exists():
            pytest.skip(f"{path} is not there (see ../shared/data/README.md)")


@pytest.mark.slow  # three models trained on FD001 engines
def test_a_challenger_is_compared_promoted_and_the_decision_kept(registry, tmp_path):
    first = train_rul_from_file(registry, engines(tmp_path / "a.txt", 1, 25), "engines")
    registry.promote("engines", first.version)

    decision = retrain(registry, "engines", engines(tmp_path / "b.txt", 26, 60))

    assert decision.challenger == 2 and decision.champion == 1
    assert decision.metric == "holdout_rmse"
    assert decision.champion_score is not None
    assert decision.promoted == (decision.challenger_score < decision.champion_score)
    kept = json.loads(registry.version("engines", 2).tags[DECISION_TAG])
    assert kept["promoted"] == decision.promoted and kept["reason"] == decision.reason
    champion = registry.resolve("engines@champion").version
    assert champion == (2 if decision.promoted else 1)
    assert registry.resolve("engines@challenger").version == 2


@pytest.mark.slow
def test_without_promotion_the_champion_stays(registry, tmp_path):
    first = train_rul_from_file(registry, engines(tmp_path / "a.txt", 61, 80), "turbines")
    registry.promote("turbines", first.version)

    decision = retrain(
        registry, "turbines", engines(tmp_path / "b.txt", 1, 40), promote_if_better=False
    )

    assert not decision.promoted
    assert registry.resolve("turbines@champion").version == 1
    assert registry.resolve("turbines@challenger").version == 2
    if decision.challenger_score < (decision.champion_score or 0):
        assert decision.reason.endswith("promotion is off")


def test_drift_leads_to_a_retrained_failure_model_and_a_recorded_decision(registry, tmp_path):
    from shopfloor.ml.ai4i import read_ai4i
    from shopfloor.ml.drift import drift_report
    from shopfloor.ml.failure import FailureModel

    first = train_failure_from_file(registry, AI4I, "pumps")
    registry.promote("pumps", first.version)
    model = registry.load(registry.resolve("pumps"), {"failure": FailureModel.load})
    features, _labels, _modes = read_ai4i(AI4I)
    reference = model.feature_rows(features)
    # Live inputs with the torque two standard deviations higher.
    live = reference.copy()
    live["torque_nm"] += 2 * reference["torque_nm"].std()
    report = drift_report(
        {c: reference[c].to_numpy() for c in reference},
        {c: live[c].to_numpy() for c in live},
    )
    drifted = {d.feature for d in report if d.drifted}
    assert "torque_nm" in drifted and "speed_rpm" not in drifted

    decision = retrain(registry, "pumps", AI4I)

    assert decision.challenger == 2 and decision.champion == 1
    assert decision.metric == "holdout_f1" and 0.7 < decision.challenger_score <= 1.0
    # Trained on less data than the champion, scored on rows the champion saw: whatever
    # the verdict, it is recorded with both scores.
    kept = json.loads(registry.version("pumps", 2).tags[DECISION_TAG])
    assert kept["champion_score"] == decision.champion_score
    assert kept["promoted"] == decision.promoted
    assert registry.resolve("pumps@challenger").version == 2
