"""The disposition rules: reject, rework, hold, accept, their reasons and the quality score."""

from __future__ import annotations

from shopfloor.quality.disposition import Finding, Observation, decide, quality_score
from shopfloor.quality.sampling import plan_for

PLAN_J = plan_for(1000, 1.0)  # J: n=80, Ac 2, Re 3


def bore(value: float, serial: str | None = None) -> Observation:
    inside = 9.9 <= value <= 10.1
    return Observation("bore", value, inside, serial, lsl=9.9, usl=10.1, unit="mm")


def good(count: int) -> list[Observation]:
    return [bore(10.0, f"U{i}") for i in range(count)]


def test_a_critical_defect_rejects_whatever_else_was_found():
    crack = Finding("crack", "critical", 1, "weld seam", "U1")
    decision = decide(PLAN_J, 80, good(80), [crack])
    assert decision.disposition == "reject"
    assert "1 critical defect: crack at weld seam" in decision.reasons
    assert decision.quality_score == 50.0


def test_the_first_reason_states_the_plan():
    for findings in ([], [Finding("crack", "critical")], [Finding("dent", "major")] * 5):
        reasons = decide(PLAN_J, 80, good(3), findings).reasons
        assert reasons[0] == "plan J (lot 1000, AQL 1.0, Z1.4 level II normal): n=80, Ac 2, Re 3"


def test_nonconforming_units_up_to_ac_accept_and_re_rejects():
    two_bad = [bore(10.3, "U1"), bore(9.5, "U2"), *good(78)]
    accepted = decide(PLAN_J, 80, two_bad, [])
    assert (accepted.disposition, accepted.nonconforming_units) == ("accept", 2)
    assert any("within the acceptance number" in reason for reason in accepted.reasons)

    three_bad = [*two_bad, bore(10.2, "U3")]
    rejected = decide(PLAN_J, 80, three_bad, [])
    assert (rejected.disposition, rejected.nonconforming_units) == ("reject", 3)
    assert any("3 nonconforming units in a sample of 80" in r for r in rejected.reasons)
    assert any("bore 10.2 mm above USL 10.1 mm" in r for r in rejected.reasons)
    assert any("bore 9.5 mm below LSL 9.9 mm" in r for r in rejected.reasons)


def test_a_unit_counts_once_and_measurements_without_serial_are_units_of_their_own():
    same_unit = [bore(10.3, "U1"), bore(10.4, "U1"), bore(9.0, "U1")]
    assert decide(PLAN_J, 80, same_unit, []).nonconforming_units == 1
    anonymous = [bore(10.3), bore(10.3), bore(10.3)]
    assert decide(PLAN_J, 80, anonymous, []).nonconforming_units == 3


def test_measurements_without_a_specification_never_make_a_unit_nonconforming():
    free = [Observation("colour", 999.0, None, "U1")]
    assert decide(PLAN_J, 80, free, []).nonconforming_units == 0


def test_units_with_major_defects_are_nonconforming_and_merge_with_measured_ones():
    observations = [bore(10.3, "U1"), *good(10)]
    majors = [Finding("burr", "major", 1, "edge", "U1"), Finding("dent", "major", 1, None, "U2")]
    decision = decide(PLAN_J, 80, observations, majors)
    assert decision.nonconforming_units == 2
    assert decision.disposition == "accept"


def test_a_major_defect_without_serial_counts_each_occurrence_as_a_unit():
    decision = decide(PLAN_J, 80, [], [Finding("dent", "major", 3)])
    assert decision.nonconforming_units == 3


def test_rework_when_only_few_enough_major_defects_fail_the_lot():
    # Ac 2: 3 to 5 major defects (2*Ac + 1 = 5) and nothing out of specification → rework.
    majors = [Finding("burr", "major", 1, "edge", f"U{i}") for i in range(5)]
    decision = decide(PLAN_J, 80, good(80), majors)
    assert decision.disposition == "rework"
    assert any("2*Ac + 1 = 5" in reason for reason in decision.reasons)

    six = [*majors, Finding("burr", "major", 1, "edge", "U9")]
    assert decide(PLAN_J, 80, good(80), six).disposition == "reject"


def test_no_rework_when_a_measurement_is_out_of_specification_too():
    majors = [Finding("burr", "major", 1, None, f"U{i}") for i in range(3)]
    decision = decide(PLAN_J, 80, [bore(10.5, "U7"), *good(79)], majors)
    assert decision.disposition == "reject"


def test_rework_with_an_acceptance_number_of_zero():
    plan = plan_for(1000, 0.15)  # J: n=80, Ac 0
    assert plan.accept == 0
    assert decide(plan, 80, [], [Finding("dent", "major", 1)]).disposition == "rework"
    assert decide(plan, 80, [], [Finding("dent", "major", 2)]).disposition == "reject"


def test_too_small_a_sample_is_held():
    decision = decide(PLAN_J, 20, good(20), [])
    assert decision.disposition == "hold"
    assert "sampled 20 units; plan J needs 80" in decision.reasons


def test_a_rejection_stands_even_on_too_small_a_sample():
    decision = decide(PLAN_J, 20, [bore(11.0, f"B{i}") for i in range(3)], [])
    assert decision.disposition == "reject"


def test_a_small_lot_is_accepted_on_a_full_inspection():
    plan = plan_for(10, 1.0)  # E: n=13, more than the lot
    assert decide(plan, 10, good(10), []).disposition == "accept"
    held = decide(plan, 9, good(9), [])
    assert held.disposition == "hold"
    assert "sampled 9 units; plan E needs 10 (the whole lot)" in held.reasons


def test_minor_defects_are_listed_but_do_not_count_against_the_aql():
    minors = [Finding("scratch", "minor", 4, "cover"), Finding("stain", "minor")]
    decision = decide(PLAN_J, 80, good(80), minors)
    assert decision.disposition == "accept"
    assert decision.nonconforming_units == 0
    assert any(
        reason.startswith("5 minor defects: scratch at cover (4); stain")
        for reason in decision.reasons
    )


def test_an_empty_inspection_is_accepted_and_says_so():
    decision = decide(PLAN_J, 80, [], [])
    assert decision.disposition == "accept"
    assert "no measurement and no defect was recorded" in decision.reasons
    assert decision.quality_score == 100.0


def test_the_quality_score_weighs_defects_and_the_percent_nonconforming():
    assert quality_score(80, [], 0) == 100.0
    findings = [Finding("a", "critical"), Finding("b", "major", 2), Finding("c", "minor", 3)]
    assert quality_score(80, findings, 0) == 100 - 50 - 20 - 6
    # 2 of 80 nonconforming by measurement: 2.5 %, five-fold.
    assert quality_score(80, [], 2) == 87.5
    assert quality_score(10, [], 2) == 0.0
    assert quality_score(80, [Finding("a", "critical", 3)], 0) == 0.0


def test_units_with_a_defect_are_not_penalised_twice_in_the_score():
    observations = [bore(10.3, "U1"), *good(79)]
    decision = decide(PLAN_J, 80, observations, [Finding("burr", "major", 1, None, "U1")])
    assert decision.quality_score == 90.0
