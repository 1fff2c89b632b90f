"""Western Electric and Nelson rules, each on a series crafted to trigger it (centre 0, sigma 1)."""

import pytest

from shopfloor.quality.spc import (
    NELSON,
    WESTERN_ELECTRIC,
    SpcInputError,
    Violation,
    compute_chart,
    evaluate,
    evaluate_chart,
)


def fired(series, rules, center=0.0, sigma=1.0):
    return [(v.rule, v.index) for v in evaluate(series, center, sigma, rules)]


# One point at +3.5 among small alternating values.
ONE_OUT = [0.5, -0.5, 0.5, -0.5, 3.5, -0.5, 0.5, -0.5]
# Points 3 and 5 beyond +2 sigma.
TWO_OF_THREE = [0.5, -0.5, 2.5, 0.5, 2.5, -0.5, 0.5]
# Points 3, 4, 6 and 7 beyond +1 sigma (point 5 is not).
FOUR_OF_FIVE = [0.5, -0.5, 1.5, 1.5, 0.5, 1.5, 1.5, -0.5]
# Points 2..9 above the centre line, all within 1 sigma, zig-zagging so no trend forms.
EIGHT_ABOVE = [-0.5, 0.3, 0.6, 0.2, 0.7, 0.4, 0.5, 0.3, 0.6, -0.4]
# Points 2..10 above the centre line.
NINE_ABOVE = [-0.5, 0.3, 0.6, 0.2, 0.7, 0.4, 0.5, 0.3, 0.6, 0.2, -0.4]
# Points 2..7 rise steadily.
SIX_RISING = [0.0, -0.8, -0.5, -0.2, 0.1, 0.4, 0.7, 0.2]
# Sixteen points alternating up and down; the highs are beyond 1 sigma, the lows within it, so
# no run of 15 within 1 sigma or 8 outside it forms.
ALTERNATING = [1.5, -0.5] * 8
# Fifteen points within 1 sigma, on both sides, with no long trend, side run or alternation.
HUGGING = [0.5, 0.2, -0.3, -0.6, 0.1, 0.4, -0.2, 0.3, -0.5, -0.1, 0.6, 0.2, -0.4, 0.0, 0.3]
# Eight points beyond 1 sigma, two above, two below, ... (a mixture).
MIXTURE = [1.5, 1.6, -1.5, -1.6, 1.5, 1.6, -1.5, -1.6]


def test_we1_one_point_beyond_three_sigma():
    assert fired(ONE_OUT, WESTERN_ELECTRIC) == [("WE1", 5)]
    assert fired([-v for v in ONE_OUT], WESTERN_ELECTRIC) == [("WE1", 5)]


def test_we2_two_of_three_beyond_two_sigma():
    assert fired(TWO_OF_THREE, WESTERN_ELECTRIC) == [("WE2", 5)]
    assert fired([-v for v in TWO_OF_THREE], WESTERN_ELECTRIC) == [("WE2", 5)]


def test_we2_needs_the_same_side():
    assert fired([0.5, 2.5, -2.5, 0.5], ["WE2"]) == []


def test_we3_four_of_five_beyond_one_sigma():
    assert fired(FOUR_OF_FIVE, WESTERN_ELECTRIC) == [("WE3", 7)]
    assert fired([-v for v in FOUR_OF_FIVE], WESTERN_ELECTRIC) == [("WE3", 7)]


def test_we4_eight_in_a_row_on_one_side():
    assert fired(EIGHT_ABOVE, WESTERN_ELECTRIC) == [("WE4", 9)]
    assert fired([-v for v in EIGHT_ABOVE], WESTERN_ELECTRIC) == [("WE4", 9)]


def test_n1_one_point_beyond_three_sigma():
    # The same test as WE1.
    assert fired(ONE_OUT, NELSON) == [("N1", 5)]


def test_n2_nine_in_a_row_on_one_side():
    # Nine in a row on one side are also eight in a row: WE4 fires too (at points 9 and 10).
    assert fired(NINE_ABOVE, NELSON) == [("N2", 10)]
    assert fired(NINE_ABOVE, WESTERN_ELECTRIC) == [("WE4", 9), ("WE4", 10)]


def test_n3_six_in_a_row_steadily_increasing_or_decreasing():
    assert fired(SIX_RISING, NELSON) == [("N3", 7)]
    assert fired([-v for v in SIX_RISING], NELSON) == [("N3", 7)]
    assert fired(SIX_RISING, WESTERN_ELECTRIC) == []


def test_n3_a_tie_breaks_the_trend():
    assert fired([0.1, 0.2, 0.3, 0.3, 0.4, 0.5, 0.6], ["N3"]) == []


def test_n4_fourteen_in_a_row_alternating():
    # Reported where the run reaches 14 points and at every point that extends it.
    assert fired(ALTERNATING, NELSON) == [("N4", 14), ("N4", 15), ("N4", 16)]
    assert fired(ALTERNATING, WESTERN_ELECTRIC) == []
    assert fired(ALTERNATING[:13], ["N4"]) == []


def test_n5_two_of_three_beyond_two_sigma():
    # The same test as WE2.
    assert fired(TWO_OF_THREE, NELSON) == [("N5", 5)]


def test_n6_four_of_five_beyond_one_sigma():
    # The same test as WE3.
    assert fired(FOUR_OF_FIVE, NELSON) == [("N6", 7)]


def test_n7_fifteen_in_a_row_within_one_sigma():
    assert fired(HUGGING, NELSON) == [("N7", 15)]
    assert fired(HUGGING, WESTERN_ELECTRIC) == []
    assert fired(HUGGING[:14], NELSON) == []


def test_n8_eight_in_a_row_outside_one_sigma_on_both_sides():
    assert fired(MIXTURE, NELSON) == [("N8", 8)]
    assert fired(MIXTURE, WESTERN_ELECTRIC) == []


def test_n8_needs_both_sides():
    # Eight beyond 1 sigma all above are a shift (N6, WE3, WE4), not a mixture.
    assert "N8" not in {rule for rule, _ in fired([1.5] * 8, NELSON)}


def test_runs_are_reported_at_every_point_that_extends_them():
    series = [-0.5] + [0.5, 0.4] * 5 + [-0.5]  # points 2..11 above
    assert fired(series, ["WE4", "N2"]) == [
        ("WE4", 9),
        ("WE4", 10),
        ("N2", 10),
        ("WE4", 11),
        ("N2", 11),
    ]
    descriptions = [v.description for v in evaluate(series, 0.0, 1.0, ["WE4"])]
    assert descriptions[-1] == "WE4: 10 points in a row above the centre line (points 2\u201311)"


def test_descriptions_name_the_rule_the_side_and_the_points():
    (n2,) = evaluate(NINE_ABOVE, 0.0, 1.0, ["N2"])
    assert n2 == Violation(
        "N2", 10, "N2: 9 points in a row above the centre line (points 2\u201310)"
    )
    (we1,) = evaluate([-v for v in ONE_OUT], 0.0, 1.0, ["WE1"])
    assert we1.description == "WE1: point 5 is more than 3\u03c3 below the centre line"
    (we2,) = evaluate(TWO_OF_THREE, 0.0, 1.0, ["WE2"])
    assert "2 of 3" in we2.description and "points 3\u20135" in we2.description
    (n3,) = evaluate(SIX_RISING, 0.0, 1.0, ["N3"])
    assert n3.description == "N3: 6 points in a row steadily increasing (points 2\u20137)"


def test_sigma_and_centre_scale_the_zones():
    series = [10.0 + 0.2 * v for v in TWO_OF_THREE]
    assert fired(series, ["WE2"], center=10.0, sigma=0.2) == [("WE2", 5)]


def test_a_point_exactly_on_a_limit_is_not_beyond_it():
    center, ucl = 10.0, 10.3
    sigma = (ucl - center) / 3
    assert fired([10.0, ucl, 10.0], ["WE1"], center=center, sigma=sigma) == []
    assert fired([10.0, 10.31, 10.0], ["WE1"], center=center, sigma=sigma) == [("WE1", 2)]


def test_per_point_sigma():
    # 2.5 is beyond 3 sigma only where sigma is 0.5.
    assert fired([0.0, 2.5, 2.5], ["N1"], sigma=[1.0, 1.0, 0.5]) == [("N1", 3)]


def test_zero_sigma_flags_any_point_off_the_centre_line():
    assert fired([0.0, 0.0, 0.0], ["WE1"], sigma=0.0) == []
    assert fired([0.0, 1.0, 0.0], ["WE1"], sigma=0.0) == [("WE1", 2)]


def test_points_may_carry_their_own_indices():
    points = [(2, 0.1), (3, 0.2), (4, 3.2)]
    assert fired(points, ["WE1"]) == [("WE1", 4)]


def test_unknown_rules_are_refused():
    with pytest.raises(SpcInputError, match="WE5"):
        evaluate([1.0, 2.0], 0.0, 1.0, ["WE1", "WE5"])


def test_results_are_ordered_by_point_then_rule():
    violations = evaluate(ONE_OUT, 0.0, 1.0)
    assert [(v.rule, v.index) for v in violations] == [("WE1", 5), ("N1", 5)]


def test_evaluate_chart_uses_the_charts_own_limits():
    values = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.1, 10.0, 9.9, 10.2, 12.0]
    chart = compute_chart("imr", values, baseline=10)
    assert ("WE1", 11) in [(v.rule, v.index) for v in evaluate_chart(chart, ["WE1"])]
    p_chart = compute_chart("p", [1, 2, 1, 30], sample_sizes=[100, 200, 100, 100], baseline=3)
    assert [(v.rule, v.index) for v in evaluate_chart(p_chart, ["WE1"])] == [("WE1", 4)]
