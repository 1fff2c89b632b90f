"""One check suite that every detector in ``registry.DETECTORS`` must pass.

Each test is parametrized over the registry, so a new detector is checked as soon as it is
registered. The checks are what a user of the scores would notice: causality, restarts that
resume exactly, no alarms on flat or ordinary data, alarms on clear events, scores in [0, 1]
whatever comes in, and a small state that only loads into the detector that wrote it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest

from shopfloor.core.errors import BadRequest
from shopfloor.detection.base import Detector
from shopfloor.detection.registry import DETECTORS

T0 = 1.4e9  # epoch seconds (2014)
STEP = 300.0  # five-minute readings
MAX_STATE_BYTES = 4096
ALARM = 0.5


@pytest.fixture(params=sorted(DETECTORS))
def kind(request: pytest.FixtureRequest) -> type[Detector]:
    return DETECTORS[request.param]


def times(n: int, step: float = STEP) -> np.ndarray:
    return T0 + np.arange(n) * step


def noise(n: int, seed: int = 0, mean: float = 50.0, sd: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


def eventful(n: int = 4000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a spike, a level shift and a two-day gap: every code path gets exercised."""
    t = times(n)
    t[n // 2 :] += 2 * 86_400.0
    x = noise(n, seed)
    x[n // 4] += 40.0
    x[3 * n // 4 :] += 15.0
    return t, x


def assert_unit_scores(scores: np.ndarray, n: int) -> None:
    assert scores.shape == (n,)
    assert np.isfinite(scores).all()
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0


# -- causality ---------------------------------------------------------------------------------
def test_scores_of_a_prefix_do_not_change_when_more_data_follows(kind):
    t, x = eventful()
    whole = kind().update(t, x)
    for cut in (1, 999, 1000, 2001, 3500):
        assert np.array_equal(kind().update(t[:cut], x[:cut]), whole[:cut])


def test_batch_boundaries_do_not_change_scores(kind):
    t, x = eventful()
    whole = kind().update(t, x)
    detector = kind()
    bounds = [0, 1, 2, 17, 500, 501, 2222, 3999, 4000]
    chunks = [detector.update(t[a:b], x[a:b]) for a, b in pairwise(bounds)]
    assert np.array_equal(np.concatenate(chunks), whole)


def test_score_equals_update_and_leaves_the_detector_as_it_was(kind):
    t, x = eventful()
    reference = kind()
    reference.update(t[:2000], x[:2000])
    expected_next = reference.update(t[2000:], x[2000:])

    detector = kind()
    detector.update(t[:2000], x[:2000])
    before = detector.state()
    scored = detector.score(t[2000:3000], x[2000:3000])
    assert detector.state() == before
    assert np.array_equal(scored, expected_next[:1000])
    assert np.array_equal(detector.update(t[2000:], x[2000:]), expected_next)


def test_score_on_a_fresh_detector_learns_nothing(kind):
    t, x = eventful()
    detector = kind()
    detector.score(t[:1000], x[:1000])
    assert np.array_equal(detector.update(t, x), kind().update(t, x))


# -- state -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cut", [0, 1, 1000, 3000])
def test_state_round_trip_mid_series_resumes_exactly(kind, cut):
    t, x = eventful()
    uninterrupted = kind()
    uninterrupted.update(t[:cut], x[:cut])
    document = json.loads(json.dumps(uninterrupted.state()))

    for restored in (Detector.from_state(document), kind.from_state(document)):
        assert type(restored) is kind
        assert restored.params() == uninterrupted.params()
        assert np.array_equal(
            restored.score(t[cut:], x[cut:]), uninterrupted.score(t[cut:], x[cut:])
        )
    restored = Detector.from_state(document)
    assert np.array_equal(restored.update(t[cut:], x[cut:]), uninterrupted.update(t[cut:], x[cut:]))
    assert restored.state() == uninterrupted.state()


def test_one_reading_helpers_match_the_array_calls(kind):
    t, x = eventful(n=600)
    expected = kind().update(t, x)
    pairs = [(float(a), float(b)) for a, b in zip(t, x, strict=True)]

    one_by_one = kind()
    assert [one_by_one.update_one(a, b) for a, b in pairs] == list(expected)

    learner = kind()
    for a, b in pairs[:300]:
        learner.learn_one(a, b)
    assert learner.score_one(*pairs[300]) == expected[300]
    assert learner.score_one(*pairs[300]) == expected[300]  # scoring changed nothing
    for a, b in pairs[300:]:
        learner.learn_one(a, b)
    assert learner.state() == one_by_one.state()

    batch = kind()
    batch.learn(t[:300], x[:300])
    assert np.array_equal(batch.update(t[300:], x[300:]), expected[300:])


def test_datetime64_times_score_like_epoch_seconds(kind):
    t, x = eventful()
    stamps = (t * 1e6).astype(np.int64).astype("datetime64[us]")
    assert np.array_equal(kind().update(stamps, x), kind().update(t, x))


def test_state_is_small_and_json(kind):
    detector = kind()
    assert detector.state_bytes == 0
    json.dumps(detector.state())
    t, x = eventful()
    detector.update(t, x)
    size = detector.state_bytes
    assert 0 < size <= MAX_STATE_BYTES
    detector.update(t + 30 * 86_400.0, x)
    assert detector.state_bytes == size  # does not grow with the history
    document = json.loads(json.dumps(detector.state()))
    assert document["detector"] == kind.name


def test_from_state_rejects_another_detector_kind(kind):
    t, x = eventful(n=100)
    others = [other for name, other in DETECTORS.items() if other is not kind]
    for other in others:
        written = other()
        written.update(t, x)
        with pytest.raises(BadRequest):
            kind.from_state(json.loads(json.dumps(written.state())))
    detector = kind()
    detector.update(t, x)
    document = detector.state()
    with pytest.raises(BadRequest):
        Detector.from_state({**document, "detector": "no-such-detector"})
    with pytest.raises(BadRequest):
        Detector.from_state({k: v for k, v in document.items() if k != "detector"})


def test_from_state_rejects_another_version_or_size(kind):
    t, x = eventful(n=100)
    detector = kind()
    detector.update(t, x)
    document = detector.state()
    vector = np.frombuffer(base64.b64decode(document["state"]), dtype="<f8")
    for version in (0, 2, "1", None):
        with pytest.raises(BadRequest):
            Detector.from_state({**document, "version": version})
    for wrong in (vector[:-1], np.append(vector, 0.0), vector[:0]):
        blob = base64.b64encode(wrong.tobytes()).decode("ascii")
        with pytest.raises(BadRequest):
            Detector.from_state({**document, "state": blob})


def corrupt_state(document: dict, case: str) -> dict:
    if case == "truncated state":  # no longer a whole number of floats
        return {**document, "state": document["state"][:-4]}
    if case == "state not base64":
        return {**document, "state": "not base64!"}
    if case == "unknown hyperparameter":
        return {**document, "params": {**document["params"], "no_such_parameter": 1}}
    if case == "non-finite state":  # the kernels then index out of bounds
        vector = np.frombuffer(base64.b64decode(document["state"]), dtype="<f8").copy()
        vector[:] = np.nan
        return {**document, "state": base64.b64encode(vector.tobytes()).decode("ascii")}
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["truncated state", "state not base64", "unknown hyperparameter", "non-finite state"],
)
def test_from_state_rejects_a_corrupt_document(kind, case):
    t, x = eventful(n=100)
    detector = kind()
    detector.update(t, x)
    with pytest.raises(BadRequest):
        Detector.from_state(corrupt_state(detector.state(), case))


# -- what the scores say -----------------------------------------------------------------------
@pytest.mark.parametrize("level", [0.0, 20.0, -3.5e6])
def test_constant_series_does_not_alarm_but_a_step_after_it_does(kind, level):
    n = 5000
    detector = kind()
    flat = detector.update(times(n), np.full(n, level))
    assert_unit_scores(flat, n)
    assert flat.max() < ALARM

    step = detector.update(T0 + (n + np.arange(20)) * STEP, np.full(20, level + 5.0))
    assert_unit_scores(step, 20)
    assert step[0] >= ALARM


def test_single_spike_in_stationary_noise_stands_out(kind):
    n, at = 4000, 3500
    x = noise(n, seed=0)
    x[at] += 10 * 2.0  # ten standard deviations
    scores = kind().update(times(n), x)
    rest = np.delete(scores, at)
    assert_unit_scores(scores, n)
    assert scores[at] >= ALARM
    assert np.percentile(rest, 99) < ALARM
    assert scores[at] > np.percentile(rest, 99) + 0.1


def test_a_bigger_event_soon_after_an_alarm_still_alarms(kind):
    n = 3000
    x = noise(n, seed=0)
    x[2000] += 10 * 2.0  # an event that alarms
    x[2100] += 1000 * 2.0  # a far bigger one, 100 readings later
    scores = kind().update(times(n), x)
    assert scores[2000] >= ALARM
    assert scores[2100] >= ALARM


def test_sparse_sampling_does_not_alarm_on_ordinary_noise(kind):
    """In 3000 Gaussian readings nothing is one-in-a-million, whatever the sampling interval."""
    for hours in (1.0, 5.0, 24.0, 168.0):
        for seed in range(3):
            scores = kind().update(times(3000, step=hours * 3600.0), noise(3000, seed=seed))
            assert scores.max() < 1.0, f"every {hours} h, seed {seed}"


SIGNALS = {
    "random walk": lambda rng, n: np.cumsum(rng.normal(0.0, 1.0, n)),
    "cauchy": lambda rng, n: rng.standard_t(1, n),
    "cauchy offset": lambda rng, n: 1e3 + rng.standard_t(1, n),
    "huge": lambda rng, n: 1e12 * (3.0 + rng.normal(0.0, 1.0, n)),
    "tiny": lambda rng, n: 1e-12 * (3.0 + rng.normal(0.0, 1.0, n)),
    "huge noise on tiny signal": lambda rng, n: 1e-12 + 1e12 * rng.standard_t(1, n),
    "integers": lambda rng, n: rng.poisson(3.0, n).astype(float),
    "zeros with rare ones": lambda rng, n: (rng.random(n) < 0.01).astype(float),
}


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_scores_stay_in_unit_interval(kind, signal):
    n = 5000
    x = SIGNALS[signal](np.random.default_rng(7), n)
    assert_unit_scores(kind().update(times(n), x), n)


HUGE_READINGS_PROBE = """
import base64, json, sys
import numpy as np
from shopfloor.detection.registry import make_detector

x = np.random.default_rng(0).normal(50.0, 2.0, 3000)
x[1000:1002] = [1.7e308, -1.7e308]  # finite, at the limits of float64
x[2500] += 40.0
detector = make_detector(sys.argv[1])
scores = detector.update(1.4e9 + np.arange(3000) * 300.0, x)
vector = np.frombuffer(base64.b64decode(detector.state()["state"]))
print(json.dumps({
    "in_unit": bool(np.isfinite(scores).all() and 0 <= scores.min() and scores.max() <= 1),
    "spike": float(scores[2500]),
    "finite_state": bool(np.isfinite(vector).all()),
}))
"""


def test_huge_finite_readings_do_not_blind_the_detector(kind):
    # In a child process: a detector whose state went NaN has been seen to write outside its
    # state vector, which must not corrupt the test run.
    child = subprocess.run(
        [sys.executable, "-c", HUGE_READINGS_PROBE, kind.name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.splitlines()[-1])
    assert result["in_unit"]
    assert result["spike"] >= ALARM
    assert result["finite_state"]


# -- gaps and readings that are not numbers ---------------------------------------------------
def gappy_times(n: int, seed: int = 2) -> np.ndarray:
    """Five-minute readings with gaps of hours to weeks."""
    rng = np.random.default_rng(seed)
    steps = np.full(n, STEP)
    gaps = rng.choice(n, 20, replace=False)
    steps[gaps] = rng.choice([3 * 3600.0, 86_400.0, 3 * 86_400.0, 14 * 86_400.0], 20)
    return T0 + np.cumsum(steps)


def test_gaps_in_time_are_scored_in_unit_interval(kind):
    n = 4000
    t = gappy_times(n)
    scores = kind().update(t, noise(n))
    assert_unit_scores(scores, n)


def test_non_finite_values_score_zero_and_are_not_learned(kind):
    n = 4000
    t = gappy_times(n)
    x = noise(n, seed=5)
    x[3000] += 30.0
    bad = np.array([0, 10, 11, 12, 1500, 2999, 3001, n - 1])
    x[bad] = np.array([np.nan, np.inf, -np.inf, np.nan, np.nan, np.inf, -np.inf, np.nan])
    scores = kind().update(t, x)
    assert_unit_scores(scores, n)
    assert (scores[bad] == 0.0).all()

    finite = np.isfinite(x)
    assert np.array_equal(scores[finite], kind().update(t[finite], x[finite]))


def test_all_values_non_finite(kind):
    x = np.array([np.nan, np.inf, -np.inf] * 100)
    detector = kind()
    assert np.array_equal(detector.update(times(300), x), np.zeros(300))
    later = detector.update(times(100) + 1e6, noise(100))
    assert np.array_equal(later, kind().update(times(100) + 1e6, noise(100)))


def test_non_finite_times_do_not_crash(kind):
    n = 3000
    t = times(n)
    t[[0, 5, 1000, 1001, n - 1]] = [np.nan, np.inf, -np.inf, np.nan, np.nan]
    assert_unit_scores(kind().update(t, noise(n)), n)


def test_empty_batches(kind):
    detector = kind()
    assert detector.update([], []).shape == (0,)
    assert detector.score(np.array([]), np.array([])).shape == (0,)
    t, x = eventful(n=200)
    assert np.array_equal(detector.update(t, x), kind().update(t, x))
    with pytest.raises(BadRequest):
        detector.update(t[:3], x[:2])
