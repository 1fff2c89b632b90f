"""Control charts against limits worked out by hand with Montgomery's formulas and the printed
table constants (typed in here, not taken from the product)."""

import itertools
import math
import statistics

import numpy as np
import pytest

from shopfloor.quality.spc import (
    ChartResult,
    CountError,
    FrozenLimits,
    SpcInputError,
    SubgroupSizeError,
    TooFewPointsError,
    compute_chart,
)

# Printed table constants (Montgomery, Appendix VI).
A2_5, D3_5, D4_5, D2_5 = 0.577, 0.0, 2.114, 2.326
A3_4, B3_4, B4_4, C4_4 = 1.628, 0.0, 2.266, 0.9213
D2_2, D4_2 = 1.128, 3.267
E2 = 2.66  # Montgomery's I-MR factor, 3/1.128

THREE_DECIMALS = 5e-4


def close(expected):
    return pytest.approx(expected, abs=THREE_DECIMALS)


def piston_like_rings():
    """25 subgroups of 5 inside diameters around 74 mm with a spread of about 0.01 mm, like
    Montgomery's Example 6.1 (whose 125 values are not reproduced here)."""
    rng = np.random.default_rng(20240601)
    return [round(74.0 + 0.01 * float(v), 3) for v in rng.standard_normal(125)]


def by_hand_xbar_r(values, size):
    groups = [values[i : i + size] for i in range(0, len(values) - size + 1, size)]
    means = [statistics.fmean(g) for g in groups]
    ranges = [max(g) - min(g) for g in groups]
    return statistics.fmean(means), statistics.fmean(ranges), means, ranges


def test_xbar_r_chart_reproduces_the_hand_computation():
    values = piston_like_rings()
    x_bar_bar, r_bar, means, ranges = by_hand_xbar_r(values, 5)

    chart = compute_chart("xbar_r", values, subgroup_size=5)

    assert isinstance(chart, ChartResult)
    assert chart.chart == "xbar_r"
    assert chart.center == close(x_bar_bar)
    assert chart.ucl == close(x_bar_bar + A2_5 * r_bar)
    assert chart.lcl == close(x_bar_bar - A2_5 * r_bar)
    assert [i for i, _ in chart.points] == list(range(1, 26))
    assert [v for _, v in chart.points] == pytest.approx(means)
    assert chart.sigma_within == close(r_bar / D2_5)
    assert chart.baseline_count == 25
    assert chart.point_limits is None
    assert chart.notes == []
    assert chart.members[1] == [5, 6, 7, 8, 9]

    r_chart = chart.dispersion
    assert r_chart.chart == "r"
    assert r_chart.center == close(r_bar)
    assert r_chart.ucl == close(D4_5 * r_bar)
    assert r_chart.lcl == 0.0 == D3_5 * r_bar
    assert [v for _, v in r_chart.points] == pytest.approx(ranges)
    assert r_chart.dispersion is None


def test_the_rings_look_like_the_textbook_example():
    # The same order of magnitude as Example 6.1 (X̿ = 74.001, R̄ = 0.023, UCL 74.014).
    chart = compute_chart("xbar_r", piston_like_rings(), subgroup_size=5)
    assert chart.center == pytest.approx(74.0, abs=0.005)
    assert chart.dispersion.center == pytest.approx(0.023, abs=0.006)
    assert chart.ucl - chart.center == pytest.approx(0.013, abs=0.004)


def test_xbar_s_chart_reproduces_the_hand_computation():
    groups = [
        [10.2, 10.5, 9.9, 10.1],
        [10.0, 10.3, 10.4, 9.8],
        [9.7, 10.1, 10.2, 10.0],
        [10.6, 10.2, 10.1, 10.3],
        [9.9, 9.8, 10.2, 10.0],
        [10.1, 10.4, 10.0, 9.9],
    ]
    s = [statistics.stdev(g) for g in groups]
    x_bar_bar = statistics.fmean(statistics.fmean(g) for g in groups)
    s_bar = statistics.fmean(s)

    chart = compute_chart("xbar_s", [v for g in groups for v in g], subgroup_size=4)

    assert chart.center == close(x_bar_bar)
    assert chart.ucl == close(x_bar_bar + A3_4 * s_bar)
    assert chart.lcl == close(x_bar_bar - A3_4 * s_bar)
    assert chart.sigma_within == close(s_bar / C4_4)
    assert chart.dispersion.chart == "s"
    assert chart.dispersion.center == close(s_bar)
    assert chart.dispersion.ucl == close(B4_4 * s_bar)
    assert chart.dispersion.lcl == close(B3_4 * s_bar)
    assert chart.dispersion.values == pytest.approx(s)


def test_imr_chart_reproduces_the_hand_computation():
    values = [10.2, 10.4, 10.1, 10.3, 10.6, 10.5, 10.2, 10.4, 10.3, 10.5, 10.1, 10.2]
    moving = [abs(b - a) for a, b in itertools.pairwise(values)]
    x_bar, mr_bar = statistics.fmean(values), statistics.fmean(moving)
    # Montgomery's 2.66 is 3/1.128 rounded; the product uses 3/d2 to full precision (2.6587).
    # With MR̄ ≈ 0.2 the two differ by less than the 0.0005 this test allows.
    assert mr_bar < 0.3

    chart = compute_chart("imr", values)

    assert chart.center == close(x_bar)
    assert chart.ucl == close(x_bar + E2 * mr_bar)
    assert chart.lcl == close(x_bar - E2 * mr_bar)
    assert chart.sigma_within == close(mr_bar / D2_2)
    assert chart.values == values
    mr_chart = chart.dispersion
    assert mr_chart.chart == "mr"
    assert mr_chart.center == close(mr_bar)
    assert mr_chart.ucl == close(D4_2 * mr_bar)
    assert mr_chart.lcl == 0.0
    # The moving range at point i spans values i-1 and i, so the MR chart starts at index 2.
    assert [i for i, _ in mr_chart.points] == list(range(2, 13))
    assert mr_chart.values == pytest.approx(moving)
    assert mr_chart.members[0] == [0, 1]


def test_p_chart_with_varying_sample_sizes_has_limits_per_point():
    defective = [12, 8, 15, 10, 4, 9, 11, 7]
    sizes = [200, 150, 250, 180, 120, 160, 210, 140]
    p_bar = sum(defective) / sum(sizes)

    chart = compute_chart("p", defective, sample_sizes=sizes)

    assert chart.center == close(p_bar)
    assert chart.values == pytest.approx([d / n for d, n in zip(defective, sizes, strict=True)])
    assert chart.dispersion is None and chart.sigma_within is None
    assert len(chart.point_limits) == len(defective)
    for (lcl, ucl), n in zip(chart.point_limits, sizes, strict=True):
        half = 3 * math.sqrt(p_bar * (1 - p_bar) / n)
        assert ucl == close(p_bar + half)
        assert lcl == close(max(0.0, p_bar - half))
    n_bar = statistics.fmean(sizes)
    assert chart.ucl == close(p_bar + 3 * math.sqrt(p_bar * (1 - p_bar) / n_bar))
    assert any("average sample size" in note for note in chart.notes)
    assert chart.point_sigmas[0] == close(math.sqrt(p_bar * (1 - p_bar) / sizes[0]))


def test_p_chart_lcl_floors_at_zero_and_constant_n_gives_constant_limits():
    chart = compute_chart("p", [1, 0, 2, 1, 0, 1], sample_sizes=50)
    p_bar = 5 / 300
    assert chart.lcl == 0.0
    assert chart.ucl == close(p_bar + 3 * math.sqrt(p_bar * (1 - p_bar) / 50))
    assert chart.point_limits is None


def test_np_chart():
    defective = [3, 5, 2, 6, 4, 3, 7, 2, 4, 5]
    n = 100
    p_bar = sum(defective) / (n * len(defective))

    chart = compute_chart("np", defective, sample_sizes=[n] * len(defective))

    assert chart.center == close(n * p_bar)
    half = 3 * math.sqrt(n * p_bar * (1 - p_bar))
    assert chart.ucl == close(n * p_bar + half)
    assert chart.lcl == close(max(0.0, n * p_bar - half))
    assert chart.values == defective


def test_c_chart():
    counts = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16, 19, 10]
    c_bar = statistics.fmean(counts)

    chart = compute_chart("c", counts)

    assert chart.center == close(c_bar)
    assert chart.ucl == close(c_bar + 3 * math.sqrt(c_bar))
    assert chart.lcl == close(max(0.0, c_bar - 3 * math.sqrt(c_bar)))


def test_u_chart_with_varying_units():
    defects = [14, 12, 20, 11, 7, 15]
    units = [10, 8, 13, 10, 9.5, 12]
    u_bar = sum(defects) / sum(units)

    chart = compute_chart("u", defects, sample_sizes=units)

    assert chart.center == close(u_bar)
    assert chart.values == pytest.approx([c / n for c, n in zip(defects, units, strict=True)])
    for (lcl, ucl), n in zip(chart.point_limits, units, strict=True):
        assert ucl == close(u_bar + 3 * math.sqrt(u_bar / n))
        assert lcl == close(max(0.0, u_bar - 3 * math.sqrt(u_bar / n)))


def test_baseline_limits_come_only_from_the_first_k_points():
    values = piston_like_rings()
    shifted = values[:75] + [v + 0.05 for v in values[75:]]  # subgroups 16..25 move up
    x_bar_bar, r_bar, _, _ = by_hand_xbar_r(values[:75], 5)

    chart = compute_chart("xbar_r", shifted, subgroup_size=5, baseline=15)

    assert chart.baseline_count == 15
    assert chart.dispersion.baseline_count == 15
    assert chart.center == close(x_bar_bar)
    assert chart.ucl == close(x_bar_bar + A2_5 * r_bar)
    assert chart.dispersion.center == close(r_bar)
    assert len(chart.points) == 25  # phase II points are all plotted and judged
    assert all(v > chart.ucl for _, v in chart.points[15:])


def test_imr_baseline_uses_the_moving_ranges_inside_the_baseline():
    values = [5.0, 5.2, 4.9, 5.1, 5.0, 9.0, 1.0, 9.0]
    chart = compute_chart("imr", values, baseline=5)
    mr_bar = statistics.fmean([0.2, 0.3, 0.2, 0.1])
    assert chart.center == close(statistics.fmean(values[:5]))
    assert chart.dispersion.center == close(mr_bar)
    assert chart.dispersion.baseline_count == 4


def test_attribute_baseline_pools_only_the_first_k_subgroups():
    chart = compute_chart(
        "p", [2, 3, 1, 20, 25], sample_sizes=[100, 100, 100, 100, 100], baseline=3
    )
    assert chart.center == close(6 / 300)


def test_frozen_limits_are_used_as_given():
    phase_one = compute_chart("xbar_r", piston_like_rings(), subgroup_size=5)
    stored = FrozenLimits.from_dict(phase_one.frozen_limits().to_dict())

    new = compute_chart("xbar_r", [74.1] * 10, subgroup_size=5, frozen=stored)

    assert (new.center, new.ucl, new.lcl) == (phase_one.center, phase_one.ucl, phase_one.lcl)
    assert new.dispersion.center == phase_one.dispersion.center
    assert new.dispersion.ucl == phase_one.dispersion.ucl
    assert new.baseline_count == 0
    assert new.sigma_within == pytest.approx(phase_one.sigma_within)


def test_frozen_centre_lines_derive_the_missing_limits():
    frozen = FrozenLimits(center=10.0, dispersion=FrozenLimits(center=0.2))
    chart = compute_chart("imr", [10.1, 9.9, 10.0], frozen=frozen)
    assert chart.ucl == close(10.0 + E2 * 0.2)
    assert chart.dispersion.ucl == close(D4_2 * 0.2)

    p_chart = compute_chart("p", [1, 4], sample_sizes=[50, 200], frozen=FrozenLimits(center=0.02))
    assert p_chart.center == 0.02
    assert p_chart.point_limits[1].ucl == close(0.02 + 3 * math.sqrt(0.02 * 0.98 / 200))


def test_frozen_variables_limits_need_the_dispersion_centre():
    with pytest.raises(SpcInputError, match="R chart"):
        compute_chart("xbar_r", [1, 2, 3, 4], subgroup_size=2, frozen=FrozenLimits(center=2.5))


def test_subgroups_follow_their_labels_in_order_of_first_appearance():
    values = [1.0, 10.0, 2.0, 11.0, 3.0, 12.0]
    labels = ["a", "b", "a", "b", "a", "b"]
    chart = compute_chart("xbar_r", values, subgroups=labels)
    assert chart.labels == ["a", "b"]
    assert chart.values == pytest.approx([2.0, 11.0])
    assert chart.members == [[0, 2, 4], [1, 3, 5]]
    assert chart.dispersion.values == pytest.approx([2.0, 2.0])


def test_a_trailing_incomplete_subgroup_is_dropped_with_a_note():
    chart = compute_chart("xbar_r", list(range(13)), subgroup_size=5)
    assert len(chart.points) == 2
    assert chart.notes == ["the last 3 value(s) do not fill a subgroup of 5 and are left out"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": "imr", "values": [1.0]}, TooFewPointsError, "at least 2"),
        (
            {"kind": "xbar_r", "values": [1, 2, 3], "subgroup_size": 2},
            TooFewPointsError,
            "at least 2",
        ),
        (
            {"kind": "xbar_r", "values": [1, 2, 3, 4], "subgroup_size": 1},
            SubgroupSizeError,
            "2 and 25",
        ),
        (
            {"kind": "xbar_s", "values": list(range(60)), "subgroup_size": 26},
            SubgroupSizeError,
            "2 and 25",
        ),
        ({"kind": "xbar_r", "values": [1, 2, 3, 4]}, SubgroupSizeError, "subgroup"),
        (
            {"kind": "xbar_r", "values": [1, 2, 3, 4, 5], "subgroups": ["a", "a", "b", "b", "b"]},
            SubgroupSizeError,
            "same number of values",
        ),
        ({"kind": "c", "values": [3, -1, 2]}, CountError, "count 2 is negative"),
        ({"kind": "c", "values": [3, 1.5, 2]}, CountError, "whole number"),
        (
            {"kind": "p", "values": [3, 60], "sample_sizes": [50, 50]},
            CountError,
            "exceeds its sample size",
        ),
        ({"kind": "p", "values": [3, 6]}, SpcInputError, "sample sizes"),
        (
            {"kind": "np", "values": [3, 6], "sample_sizes": [50, 60]},
            SpcInputError,
            "same sample size",
        ),
        ({"kind": "u", "values": [3, 6], "sample_sizes": [5, 0]}, SpcInputError, "sample size 2"),
        ({"kind": "imr", "values": [1, 2, 3], "baseline": 4}, TooFewPointsError, "only 3"),
        ({"kind": "imr", "values": [1, 2, 3], "baseline": 1}, TooFewPointsError, "at least 2"),
        (
            {"kind": "imr", "values": [1, 2, 3], "baseline": 2, "frozen": FrozenLimits(center=1)},
            SpcInputError,
            "not both",
        ),
        ({"kind": "imr", "values": [1, float("nan"), 3]}, SpcInputError, "item 2"),
        ({"kind": "xyz", "values": [1, 2, 3]}, SpcInputError, "unknown chart"),
    ],
)
def test_unusable_input_raises_a_clear_value_error(kwargs, error, message):
    kind = kwargs.pop("kind")
    values = kwargs.pop("values")
    with pytest.raises(error, match=message) as caught:
        compute_chart(kind, values, **kwargs)
    assert isinstance(caught.value, ValueError)


def test_errors_point_at_the_offending_item():
    with pytest.raises(CountError) as caught:
        compute_chart("np", [1, 2, 30], sample_sizes=20)
    assert caught.value.field == "values"
    assert caught.value.index == 2


@pytest.mark.parametrize("kind", ["imr", "xbar_r", "xbar_s", "p", "np", "c", "u"])
def test_no_data_is_too_few_points(kind):
    with pytest.raises(TooFewPointsError):
        compute_chart(kind, [], subgroup_size=5, sample_sizes=[])
