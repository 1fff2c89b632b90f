"""The signal models: deterministic, mostly within limits, with faults that cross them."""

from __future__ import annotations

import numpy as np
import pytest

from shopfloor.demo.plant import MACHINES, machine_of_sensor, sensor_paths, signal_specs
from shopfloor.demo.signals import HOUR_S, PlantSignals, load_factor
from shopfloor.demo.simulator import schedule_opening_failure

DAY_START = 1_700_006_400  # 2023-11-15T00:00:00Z
SEED = 42


def plant_signals(seed: int = SEED) -> PlantSignals:
    return PlantSignals(signal_specs(), machine_of_sensor(), seed)


def limits() -> tuple[np.ndarray, np.ndarray]:
    specs = signal_specs()
    return np.array([[s.low] for s in specs]), np.array([[s.high] for s in specs])


@pytest.fixture(scope="module")
def day() -> tuple[PlantSignals, np.ndarray, np.ndarray]:
    signals = plant_signals()
    ts = np.arange(DAY_START, DAY_START + 24 * HOUR_S)
    return signals, ts, signals.values(ts)


def beyond(values: np.ndarray) -> np.ndarray:
    low, high = limits()
    return (values < low) | (values > high)


def test_the_plant_is_about_thirty_sensors_on_six_machines():
    assert len(MACHINES) == 6
    assert len(sensor_paths()) == len(set(sensor_paths())) == 31
    for spec in signal_specs():
        assert spec.low < min(spec.idle, spec.loaded) <= max(spec.idle, spec.loaded) < spec.high


def test_same_seed_same_values_other_seed_other_values():
    ts = np.arange(DAY_START, DAY_START + 600)
    first, again = plant_signals().values(ts), plant_signals().values(ts)
    assert first.shape == (31, 600)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, plant_signals(SEED + 1).values(ts))


def test_a_value_does_not_depend_on_how_time_is_chunked(day):
    _, ts, values = day
    fresh = plant_signals()
    start = 3 * HOUR_S - 90  # across an hour boundary, where noise and faults change block
    second_by_second = np.hstack([fresh.values(ts[i : i + 1]) for i in range(start, start + 180)])
    np.testing.assert_array_equal(second_by_second, values[:, start : start + 180])


def test_signals_stay_mostly_within_limits(day):
    _, _, values = day
    out = beyond(values)
    assert out.mean() < 0.02
    assert out.mean(axis=1).max() < 0.1


def test_the_daily_load_cycle_shows(day):
    _, ts, values = day
    current = sensor_paths().index("acme/stamping/line-1/press-1/motor-current")
    hours = (ts - DAY_START) / HOUR_S
    night, day_shift = (hours >= 1) & (hours < 5), (hours >= 7) & (hours < 9.5)
    assert values[current, day_shift].mean() > values[current, night].mean() + 20
    assert load_factor(np.array([DAY_START + 8 * HOUR_S]))[0] == 1.0


def test_a_day_holds_rare_faults_that_cross_limits(day):
    signals, ts, values = day
    faults = signals.faults_between(int(ts[0]), int(ts[-1]) + 1)
    kinds = {kind: sum(f.kind == kind for f in faults) for kind in ("spike", "shift", "burst")}
    assert 20 <= sum(kinds.values()) <= 200, kinds  # minutes to hours apart
    assert all(kinds.values()), kinds
    out = beyond(values)
    for spike in (f for f in faults if f.kind == "spike"):
        assert out[spike.target, spike.start_s - DAY_START]


def test_a_failing_machine_degrades_fails_beyond_its_limits_and_is_repaired(day):
    signals, ts, values = day
    failures = [f for f in signals.faults_between(int(ts[0]), int(ts[-1])) if f.kind == "failure"]
    assert failures
    failure = next(f for f in failures if f.start_s >= DAY_START and f.end_s < ts[-1] - 600)
    rows = [
        i
        for i, (m, spec) in enumerate(zip(machine_of_sensor(), signal_specs(), strict=True))
        if m == failure.target and spec.wear
    ]
    out = beyond(values)[rows]
    failed = slice(failure.start_s + failure.ramp_s - DAY_START, failure.end_s - DAY_START)
    before = slice(failure.start_s - 600 - DAY_START, failure.start_s - DAY_START)
    after = slice(failure.end_s + 60 - DAY_START, failure.end_s + 600 - DAY_START)
    assert out[:, failed].mean() > 0.95  # a sustained excursion, not a blip
    assert out[:, before].mean() < 0.05
    assert out[:, after].mean() < 0.05  # repaired


def test_the_opening_failure_comes_within_minutes():
    signals = plant_signals()
    now = DAY_START + 10 * HOUR_S
    opening = schedule_opening_failure(signals, now, SEED)
    fails_at = opening.start_s + opening.ramp_s
    assert now + 120 <= fails_at <= now + 300
    rows = [i for i, m in enumerate(machine_of_sensor()) if m == opening.target]
    values = signals.values(np.arange(fails_at + 10, fails_at + 70))
    assert beyond(values)[rows].any(axis=1).sum() >= 2
