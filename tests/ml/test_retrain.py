"""Retraining on C-MAPSS engines: a challenger is registered, compared with the champion on
held-out engines, promoted only when better, and the decision is kept on its version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopfloor.ml.registry import Registry
from shopfloor.ml.retrain import DECISION_TAG, retrain
from shopfloor.ml.training import train_rul_from_file

FD001 = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmapss" / "train_FD001.txt"
)


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
    if not FD001.exists():
        pytest.skip(f"C-MAPSS FD001 is not at {FD001} (see ../shared/data/README.md)")
    return Registry.from_settings(tmp_path_factory.mktemp("models"), None)


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
