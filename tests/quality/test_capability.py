"""Cp, Cpk, Pp and Ppk against values worked out by hand."""

import itertools
import statistics

import pytest

from shopfloor.quality.spc import (
    Capability,
    SpcInputError,
    SubgroupSizeError,
    TooFewPointsError,
    capability,
)

VALUES = [10.1, 9.8, 10.3, 10.0, 9.9, 10.2, 10.4, 9.7, 10.0, 10.1]
LSL, USL = 9.0, 11.0
D2_2, D2_5 = 1.128, 2.326  # printed table constants

THREE_DECIMALS = 5e-4
# The printed d2 = 1.128 is rounded (1.12838...), so indices built on sigma_within agree with a
# hand computation that uses it to about 0.03 % of their size.
PRINTED_D2 = 5e-4


def by_hand(values):
    mean = statistics.fmean(values)
    overall = statistics.stdev(values)
    within = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(values)) / D2_2
    return mean, overall, within


def test_two_sided_indices():
    mean, overall, within = by_hand(VALUES)

    result = capability(VALUES, LSL, USL)

    assert isinstance(result, Capability)
    assert result.n == 10
    assert result.mean == pytest.approx(mean, abs=THREE_DECIMALS)
    assert result.sigma_overall == pytest.approx(overall, abs=THREE_DECIMALS)
    assert result.sigma_within == pytest.approx(within, abs=THREE_DECIMALS)
    assert result.cp == pytest.approx((USL - LSL) / (6 * within), rel=PRINTED_D2)
    assert result.cpk == pytest.approx(min(USL - mean, mean - LSL) / (3 * within), rel=PRINTED_D2)
    assert result.pp == pytest.approx((USL - LSL) / (6 * overall), abs=THREE_DECIMALS)
    assert result.ppk == pytest.approx(
        min(USL - mean, mean - LSL) / (3 * overall), abs=THREE_DECIMALS
    )
    # The worked numbers, for the record: mean 10.05, s 0.2173, MR-bar 0.3111.
    assert (round(result.pp, 3), round(result.ppk, 3)) == (1.534, 1.457)


def test_sigma_within_from_subgroup_ranges():
    values = [
        *(10.1, 9.8, 10.3, 10.0, 9.9),
        *(10.2, 10.4, 9.7, 10.0, 10.1),
        *(9.9, 10.0, 10.2, 10.1, 9.8),
        *(10.3, 10.0, 9.9, 10.1, 10.2),
    ]
    r_bar = statistics.fmean(max(g) - min(g) for g in (values[i : i + 5] for i in range(0, 20, 5)))

    result = capability(values, LSL, USL, subgroup_size=5)

    assert result.sigma_within == pytest.approx(r_bar / D2_5, abs=THREE_DECIMALS)
    assert result.cp == pytest.approx((USL - LSL) / (6 * r_bar / D2_5), abs=THREE_DECIMALS)


def test_given_sigma_within_is_used_as_is():
    result = capability(VALUES, LSL, USL, sigma_within=0.25)
    assert result.sigma_within == 0.25
    assert result.cp == pytest.approx(2.0 / 1.5)
    assert result.cpk == pytest.approx(0.95 / 0.75)


def test_upper_limit_only():
    mean, overall, within = by_hand(VALUES)
    result = capability(VALUES, None, USL)
    assert result.cp is None and result.pp is None
    assert result.cpk == pytest.approx((USL - mean) / (3 * within), rel=PRINTED_D2)
    assert result.ppk == pytest.approx((USL - mean) / (3 * overall), abs=THREE_DECIMALS)


def test_lower_limit_only():
    mean, overall, within = by_hand(VALUES)
    result = capability(VALUES, LSL, None)
    assert result.cp is None and result.pp is None
    assert result.cpk == pytest.approx((mean - LSL) / (3 * within), rel=PRINTED_D2)
    assert result.ppk == pytest.approx((mean - LSL) / (3 * overall), abs=THREE_DECIMALS)


def test_fewer_than_30_values_warns():
    (warning,) = capability(VALUES, LSL, USL).warnings
    assert warning.startswith("fewer than 30 values: ")
    assert capability(VALUES * 3, LSL, USL).warnings == []


def test_out_of_control_process_warns():
    result = capability(VALUES * 3, LSL, USL, in_control=False)
    (warning,) = result.warnings
    assert warning.startswith("the process is not in statistical control: ")
    assert capability(VALUES * 3, LSL, USL, in_control=True).warnings == []


def test_no_variation_leaves_the_indices_out():
    result = capability([5.0] * 40, 4.0, 6.0)
    assert (result.cp, result.cpk, result.pp, result.ppk) == (None, None, None, None)
    assert any("no variation" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((VALUES, None, None), {}, SpcInputError, "at least one specification limit"),
        ((VALUES, 11.0, 9.0), {}, SpcInputError, "below usl"),
        (([10.0], 9.0, 11.0), {}, TooFewPointsError, "at least 2"),
        ((VALUES, 9.0, 11.0), {"subgroup_size": 30}, SubgroupSizeError, "2 and 25"),
        ((VALUES, 9.0, 11.0), {"sigma_within": -1.0}, SpcInputError, "sigma_within"),
    ],
)
def test_unusable_input_raises_a_clear_value_error(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        capability(*args, **kwargs)
