"""The NAB scorer (``shopfloor.detection.nab``) on small hand-made corpora and on the real one.

Expected numbers are worked out by hand from NAB's published method: a detection inside a window
earns ``scaled_sigmoid(pos) / scaled_sigmoid(-1)`` times the TP weight, with
``pos = -(last - i + 1) / width`` and ``scaled_sigmoid(x) = 2 / (1 + exp(5 x)) - 1``; a detection
after a window costs ``scaled_sigmoid(|last - i| / (width - 1))`` times the FP weight (the full
weight from 3 on, and before the first window); a missed window costs the FN weight.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from shopfloor.detection.nab import PROFILES, NabFile, load_corpus, load_profiles, score_corpus

NAB_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nab"
STANDARD, LOW_FP, LOW_FN = "standard", "reward_low_FP_rate", "reward_low_FN_rate"
FP = PROFILES[STANDARD]["fp"]  # 0.11
MAX_TP = 2 / (1 + math.exp(-5)) - 1  # scaled_sigmoid(-1) = 0.98661


def nab_file(rows: int, *windows: tuple[int, int], name: str = "f.csv") -> NabFile:
    stamps = np.datetime64("2024-01-01T00:00:00") + np.arange(rows) * np.timedelta64(5, "m")
    return NabFile(name, stamps, np.zeros(rows), tuple(windows))


def fire_at(rows: int, *at: int, score: float = 1.0) -> np.ndarray:
    scores = np.zeros(rows)
    scores[list(at)] = score
    return scores


def raw(files: list[NabFile], scores: list[np.ndarray], profile: str = STANDARD) -> float:
    return score_corpus(files, scores)[profile].raw


def window_weight(i: int, first: int, last: int) -> float:
    position = -(last - i + 1) / (last - first + 1)
    return (2 / (1 + math.exp(5 * position)) - 1) / MAX_TP


# -- normalisation ------------------------------------------------------------------------------
def corpus() -> list[NabFile]:
    return [nab_file(200, (50, 69), (120, 139), name="a.csv"), nab_file(300, (100, 129))]


def test_never_firing_scores_zero_on_every_profile() -> None:
    files = corpus()
    results = score_corpus(files, [np.zeros(200), np.zeros(300)])
    for name, result in results.items():
        assert result.score == pytest.approx(0.0), name
        assert result.raw == pytest.approx(-3 * PROFILES[name]["fn"])  # three missed windows


def test_firing_at_every_window_start_scores_hundred_on_every_profile() -> None:
    files = corpus()
    results = score_corpus(files, [fire_at(200, 50, 120), fire_at(300, 100)])
    for name, result in results.items():
        assert result.score == pytest.approx(100.0), name
        assert result.raw == pytest.approx(3.0)  # three windows, each the full TP weight


# -- inside a window ----------------------------------------------------------------------------
def test_detection_at_the_first_row_of_a_window_earns_exactly_the_tp_weight() -> None:
    files = [nab_file(100, (40, 59))]
    assert raw(files, [fire_at(100, 40)]) == pytest.approx(1.0)


def test_detection_in_the_middle_of_a_window_earns_the_scaled_sigmoid() -> None:
    files = [nab_file(100, (40, 59))]  # width 20
    # Row 50: pos = -(59 - 50 + 1) / 20 = -0.5; 2 / (1 + e^-2.5) - 1 = 0.848284, / 0.986614
    expected = (2 / (1 + math.exp(-2.5)) - 1) / (2 / (1 + math.exp(-5)) - 1)
    assert expected == pytest.approx(0.859793, abs=1e-6)
    results = score_corpus(files, [fire_at(100, 50)])
    assert results[STANDARD].raw == pytest.approx(expected)
    # Normalised between null (-1, the missed window) and perfect (+1).
    assert results[STANDARD].score == pytest.approx(100 * (expected + 1) / 2)
    assert results[LOW_FN].score == pytest.approx(100 * (expected + 2) / 3)


def test_later_detections_earn_less_down_to_almost_nothing_at_the_last_row() -> None:
    files = [nab_file(100, (40, 59))]
    earned = [raw(files, [fire_at(100, i)]) for i in (40, 45, 50, 55, 59)]
    assert earned == sorted(earned, reverse=True)
    assert earned[-1] == pytest.approx(window_weight(59, 40, 59))  # pos -1/20: 0.126
    assert earned[-1] < 0.13


def test_only_the_first_detection_in_a_window_counts() -> None:
    files = [nab_file(100, (40, 59))]
    assert raw(files, [fire_at(100, 40, 45, 50, 55)]) == pytest.approx(1.0)
    assert raw(files, [fire_at(100, *range(50, 60))]) == pytest.approx(window_weight(50, 40, 59))


def test_the_best_detection_in_a_window_counts_whatever_its_score() -> None:
    files = [nab_file(100, (40, 59))]
    scores = fire_at(100, 55)
    scores[42] = 0.9  # earlier but weaker: a threshold of 0.9 catches both
    result = score_corpus(files, [scores])[STANDARD]
    assert result.threshold == pytest.approx(0.9)
    assert result.raw == pytest.approx(window_weight(42, 40, 59))


# -- false positives ----------------------------------------------------------------------------
def test_false_positive_before_the_first_window_costs_the_full_fp_weight() -> None:
    files = [nab_file(100, (60, 79))]
    results = score_corpus(files, [fire_at(100, 30, 60)])
    assert results[STANDARD].raw == pytest.approx(1.0 - 0.11)
    assert results[LOW_FP].raw == pytest.approx(1.0 - 0.22)


def test_false_positive_just_after_a_window_costs_almost_nothing() -> None:
    files = [nab_file(1000, (200, 299))]  # width 100
    # Row 300: |299 - 300| / 99 = 0.0101; 2 / (1 + e^0.0505) - 1 = -0.02525; x 0.11 = -0.00278
    cost = -(2 / (1 + math.exp(5 / 99)) - 1) * FP
    assert cost == pytest.approx(0.002777, abs=1e-6)
    assert raw(files, [fire_at(1000, 200, 300)]) == pytest.approx(1.0 - cost)


def test_false_positive_three_window_widths_after_a_window_costs_the_full_fp_weight() -> None:
    files = [nab_file(1000, (200, 299))]
    # Row 600: (600 - 299) / 99 = 3.04 ≥ 3: a full false positive.
    assert raw(files, [fire_at(1000, 200, 600)]) == pytest.approx(1.0 - FP)
    # Row 400, about one width after, already costs nearly all of it: 2 / (1 + e^5.1) - 1.
    near_full = -(2 / (1 + math.exp(5 * 101 / 99)) - 1) * FP
    assert raw(files, [fire_at(1000, 200, 400)]) == pytest.approx(1.0 - near_full)
    assert 0.98 * FP < near_full < FP


# -- probation ----------------------------------------------------------------------------------
def test_detections_in_the_probationary_period_are_ignored() -> None:
    files = [nab_file(100, (40, 59))]  # 15 probationary rows: 0..14
    assert raw(files, [fire_at(100, 3, 14, 40)]) == pytest.approx(1.0)
    assert raw(files, [fire_at(100, 15, 40)]) == pytest.approx(1.0 - FP)


def test_the_probationary_period_is_at_most_750_rows() -> None:
    files = [nab_file(10_000, (5000, 5099))]  # 15 % would be 1,500 rows
    assert raw(files, [fire_at(10_000, 749, 5000)]) == pytest.approx(1.0)
    assert raw(files, [fire_at(10_000, 750, 5000)]) == pytest.approx(1.0 - FP)


# -- the threshold and the profiles -------------------------------------------------------------
def test_the_threshold_maximises_the_corpus_total() -> None:
    a = nab_file(100, (40, 59), name="a.csv")
    b = nab_file(100, (40, 59), name="b.csv")
    scores_a = fire_at(100, 40, score=0.9)  # a clean early detection
    scores_b = fire_at(100, *range(16, 39), score=0.7)  # 23 false positives before the window
    scores_b[45] = 0.6  # the window, found only below them
    caught_b = window_weight(45, 40, 59)  # 0.967
    results = score_corpus([a, b], [scores_a, scores_b])
    # Standard: 0.9 gives 1 - 1 (b missed) = 0; 0.6 gives 1 + 0.967 - 23 x 0.11 = -0.563.
    assert results[STANDARD].threshold == pytest.approx(0.9)
    assert results[STANDARD].raw == pytest.approx(0.0)
    assert results[STANDARD].score == pytest.approx(50.0)
    # A missed window costs 2 under reward_low_FN_rate: 1 - 2 = -1 < -0.563, so 0.6 wins there.
    assert results[LOW_FN].threshold == pytest.approx(0.6)
    assert results[LOW_FN].raw == pytest.approx(1.0 + caught_b - 23 * FP)


def test_reward_low_fn_rate_punishes_a_missed_window_twice_as_hard() -> None:
    files = [nab_file(100, (30, 39), (70, 79))]
    results = score_corpus(files, [fire_at(100, 30)])  # the second window is missed
    assert results[STANDARD].raw == pytest.approx(1.0 - 1.0)
    assert results[LOW_FP].raw == pytest.approx(1.0 - 1.0)
    assert results[LOW_FN].raw == pytest.approx(1.0 - 2.0)


# -- the real corpus ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nab_corpus() -> list[NabFile]:
    if not (NAB_ROOT / "labels" / "combined_windows.json").exists():
        pytest.skip(f"the NAB corpus is not at {NAB_ROOT} (see ../shared/data/README.md)")
    return load_corpus(NAB_ROOT)


def test_real_corpus_has_31_files_57_windows_and_its_sanity_scores(
    nab_corpus: list[NabFile],
) -> None:
    assert len(nab_corpus) == 31
    assert sum(len(f.windows) for f in nab_corpus) == 57
    profiles = load_profiles(NAB_ROOT / "profiles.json")
    assert profiles == PROFILES
    null = score_corpus(nab_corpus, [np.zeros(len(f.values)) for f in nab_corpus], profiles)
    perfect_scores = [fire_at(len(f.values), *(w[0] for w in f.windows)) for f in nab_corpus]
    perfect = score_corpus(nab_corpus, perfect_scores, profiles)
    for name in profiles:
        assert null[name].score == pytest.approx(0.0), name
        assert perfect[name].score == pytest.approx(100.0), name
        assert perfect[name].raw == pytest.approx(57.0), name


def test_windows_in_the_probationary_period_count_towards_perfect_as_in_nab() -> None:
    stamps = np.arange(100).astype("datetime64[s]")  # probation: the first 15 rows
    starts_in_probation = NabFile("f.csv", stamps, np.zeros(100), ((5, 30),))
    scores = np.zeros(100)
    scores[15] = 1.0  # the window's first scored row
    raw = score_corpus([starts_in_probation], [scores])["standard"].raw
    # NAB: null = -1 (the window has scored rows), perfect = +1 (one labelled window).
    assert score_corpus([starts_in_probation], [scores])["standard"].score == pytest.approx(
        100 * (raw + 1) / 2
    )

    inside_probation = NabFile("g.csv", stamps, np.zeros(100), ((2, 10), (50, 59)))
    scores = np.zeros(100)
    scores[50] = 1.0
    # The first window is never scored (null -1) but counts for perfect (+2): 100 * 2 / 3.
    assert score_corpus([inside_probation], [scores])["standard"].score == pytest.approx(200 / 3)
