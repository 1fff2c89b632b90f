"""One threshold means the same on every sensor: normal behaviour scores alike, any shape."""

from __future__ import annotations

import numpy as np
import pytest

from shopfloor.detection.registry import DETECTORS, make_detector

COUNT = 20_000
WARM_UP = 2_000
ALERT = 0.5


def normal_behaviours() -> dict[str, np.ndarray]:
    """Sensors without faults, of very different shapes, scales and noise."""
    rng = np.random.default_rng(3)
    minutes = np.arange(COUNT)
    return {
        "gaussian": rng.normal(0, 1, COUNT),
        "large offset and scale": 1e6 + 1e3 * rng.normal(0, 1, COUNT),
        "heavy tails (Student t, 3 dof)": rng.standard_t(3, COUNT),
        "skewed (exponential)": rng.exponential(1, COUNT),
        "uniform": rng.uniform(0, 1, COUNT),
        "daily cycle": 20 + 5 * np.sin(2 * np.pi * minutes / 1440) + rng.normal(0, 0.5, COUNT),
        "random walk": np.cumsum(rng.normal(0, 1, COUNT)),
        "counts (Poisson)": rng.poisson(3, COUNT).astype(float),
    }


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_normal_behaviour_scores_alike_on_every_sensor(name):
    times = 1.7e9 + 60.0 * np.arange(COUNT)
    p99 = {}
    for behaviour, values in normal_behaviours().items():
        scores = make_detector(name).update(times, values)[WARM_UP:]
        assert np.mean(scores >= ALERT) < 0.003, f"{behaviour}: too many alerts"
        p99[behaviour] = float(np.quantile(scores, 0.99))

    assert all(0.2 < value < ALERT for value in p99.values()), p99
    assert max(p99.values()) - min(p99.values()) < 0.1, p99


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_the_same_fault_scores_alike_at_any_scale(name):
    rng = np.random.default_rng(11)
    times = 1.7e9 + 60.0 * np.arange(5_000)
    base = rng.normal(0, 1, 5_000)
    base[4_000] += 12  # a twelve-sigma spike
    small = make_detector(name).update(times, base)
    large = make_detector(name).update(times, 5e4 + 250 * base)

    assert small[4_000] >= ALERT
    assert large[4_000] == pytest.approx(small[4_000], abs=0.02)
