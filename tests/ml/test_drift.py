"""Drift: a sample from the training distribution does not drift; one shifted by two
standard deviations does."""

from __future__ import annotations

import numpy as np
import pytest

from shopfloor.ml.drift import drift_report, psi


def samples(seed: int, shift_sigma: float = 0.0, n: int = 2000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "torque": rng.normal(40 + 10 * shift_sigma, 10, n),
        "speed": rng.normal(1500, 180, n),
    }


def test_the_same_distribution_does_not_drift():
    report = drift_report(samples(1), samples(2))
    assert [d.drifted for d in report] == [False, False]
    assert all(d.psi < 0.05 for d in report)


def test_a_two_sigma_shift_drifts_and_only_where_it_happened():
    report = {d.feature: d for d in drift_report(samples(1), samples(2, shift_sigma=2.0))}
    assert report["torque"].drifted and report["torque"].psi > 1.0
    assert report["torque"].ks_pvalue < 1e-6
    assert not report["speed"].drifted


def test_psi_grows_with_the_shift_and_handles_edge_cases():
    base = samples(1)["torque"]
    values = [psi(base, samples(2, s)["torque"]) for s in (0.0, 0.25, 0.5, 1.0)]
    assert values == sorted(values)
    constant = np.full(100, 3.0)
    assert psi(constant, constant) == pytest.approx(0.0)
    assert psi(base, np.array([np.nan, *base[:50]])) < 0.5  # NaN ignored
    with pytest.raises(ValueError, match="finite"):
        psi(base, np.array([np.nan]))
