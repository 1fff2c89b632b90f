"""The quality pages' building blocks, without a browser: the entry form read into the API's
items and its errors put back by field, the capability verdict, the Pareto's layout, numbers,
and the live feed of measurements (on both databases)."""

from __future__ import annotations

import math

import pytest

from shopfloor.quality.spc import Capability
from shopfloor.quality.spc_service import CapabilityStudy
from shopfloor.web.quality.capability import capability_view, expected_ppm, verdict_of
from shopfloor.web.quality.entry import (
    defect_fields,
    measurement_fields,
    next_serial,
    place_errors,
    read_defect,
    read_measurements,
)
from shopfloor.web.quality.feed import MeasurementFeed, topic_of
from shopfloor.web.quality.numbers import decimals_for, spec_text
from shopfloor.web.quality.pareto import MAX_BARS, nice_step, pareto_chart


def test_a_unit_s_values_become_the_api_s_items_and_blanks_are_skipped() -> None:
    form = {
        "unit_serial": " U-07 ",
        "subgroup": "2",
        "value-3": "10,042",
        "value-5": "",
        "value-9": "7",
    }
    batch = read_measurements(form, [3, 5, 9])
    assert batch.items == [
        {"characteristic_id": 3, "value": "10.042", "unit_serial": "U-07", "subgroup": "2"},
        {"characteristic_id": 9, "value": "7", "unit_serial": "U-07", "subgroup": "2"},
    ]
    assert batch.fields == ["value-3", "value-9"]
    assert not batch.entry.failed and batch.entry.value("value-3") == "10,042"  # shown as typed

    empty = read_measurements({"unit_serial": "U-1"}, [3])
    assert empty.items == [] and empty.entry.message == "Enter at least one measured value."


def test_the_api_s_errors_go_next_to_their_fields() -> None:
    batch = read_measurements({"value-3": "x", "value-9": "1", "subgroup": "-1"}, [3, 9])
    errors = [
        {"loc": [0, "value"], "msg": "Input should be a valid number", "type": "float_parsing"},
        {"loc": [1, "subgroup"], "msg": "Input should be greater than or equal to 0", "type": "x"},
        {"loc": [1, "characteristic_id"], "msg": "characteristic 9 belongs to part 2", "type": "y"},
        {"loc": [], "msg": "the list is empty", "type": "too_short"},
    ]
    place_errors(batch.entry, errors, measurement_fields(batch.fields))
    assert batch.entry.errors == {
        "value-3": "Not a number",
        "subgroup": "Input should be greater than or equal to 0",
        "value-9": "Characteristic 9 belongs to part 2",
    }
    assert batch.entry.message == "The list is empty"


def test_a_defect_s_new_code_wins_over_the_one_chosen() -> None:
    entry, item = read_defect(
        {"defect_defect_type": "burr", "defect_new_type": "chatter", "defect_count": "3"}
    )
    assert item == {"defect_type": "chatter", "count": "3"} and not entry.failed
    entry, item = read_defect({"defect_severity": "major"})
    assert entry.errors == {"defect_defect_type": "Choose a defect type or enter a new code"}
    place_errors(entry, [{"loc": [0, "count"], "msg": "m", "type": "int_parsing"}], defect_fields())
    assert entry.errors["defect_count"] == "Not a whole number"


@pytest.mark.parametrize(
    ("serial", "following"),
    [("U-007", "U-008"), ("U-099", "U-100"), ("9", "10"), ("BRK-019-05", "BRK-019-06"), ("A", "A")],
)
def test_the_next_unit_s_serial_is_filled_in(serial: str, following: str) -> None:
    assert next_serial(serial) == following


@pytest.mark.parametrize(
    ("cpk", "key"),
    [
        (2.0, "highly_capable"),
        (1.4, "capable"),
        (1.33, "capable"),
        (1.1, "marginal"),
        (0.7, "not_capable"),
    ],
)
def test_the_verdict_follows_the_usual_thresholds(cpk: float, key: str) -> None:
    assert verdict_of(cpk).key == key


def test_expected_parts_out_of_specification() -> None:
    # Cpk 1 on both sides: 0.27 % out of specification.
    assert expected_ppm(10.0, 1.0, 7.0, 13.0) == pytest.approx(2699.8, rel=1e-3)
    assert expected_ppm(10.0, 1.0, None, 13.0) == pytest.approx(1349.9, rel=1e-3)
    assert expected_ppm(10.0, 0.0, 7.0, 13.0) is None


def _study(cp: float, cpk: float, in_control: bool, rules: list[str]) -> CapabilityStudy:
    result = Capability(50, 10.0, 0.1, 0.12, cp, cpk, cp, cpk, ["fewer than 30 values: rough"])
    return CapabilityStudy(result, "imr", in_control, rules)


def test_an_unstable_process_is_not_called_capable_and_an_off_centre_one_is_told_so() -> None:
    unstable = capability_view(_study(1.9, 1.8, False, ["WE1", "N2"]), 9.0, 11.0, "I-MR")
    assert unstable.verdict.key == "unstable"
    assert "highly capable" in unstable.verdict.label and "not in control" in unstable.verdict.label
    assert "WE1, N2 broken on the I-MR chart" in unstable.verdict.meaning

    off_centre = capability_view(_study(2.0, 1.2, True, []), 9.0, 11.0, "I-MR")
    assert off_centre.verdict.key == "marginal"
    assert any("would raise Cpk to Cp (2.00)" in note for note in off_centre.notes)
    assert "Fewer than 30 values: rough" in off_centre.notes


def test_the_pareto_bars_come_largest_first_with_the_vital_few_marked() -> None:
    items = [
        {"defect_type": code, "name": code, "count": n, "percent": p, "cumulative_percent": c}
        for code, n, p, c in [
            ("burr", 60, 60.0, 60.0),
            ("dent", 25, 25.0, 85.0),
            ("nick", 15, 15.0, 100.0),
        ]
    ]
    chart = pareto_chart(items, 100)
    assert chart is not None
    assert [(b.code, b.vital) for b in chart.bars] == [
        ("burr", True),
        ("dent", True),
        ("nick", False),
    ]
    assert [b.height for b in chart.bars] == sorted((b.height for b in chart.bars), reverse=True)
    assert chart.bars[-1].line_y == chart.top  # 100 % at the top of the plot
    assert pareto_chart([], 0) is None


def test_past_the_last_bar_the_rest_share_one() -> None:
    items = [
        {
            "defect_type": f"d{i}",
            "name": f"d{i}",
            "count": 20 - i,
            "percent": 0.0,
            "cumulative_percent": 0.0,
        }
        for i in range(15)
    ]
    chart = pareto_chart(items, sum(item["count"] for item in items))
    assert chart is not None and len(chart.bars) == MAX_BARS
    assert chart.bars[-1].code is None and chart.bars[-1].label == "Other (4 types)"
    assert chart.bars[-1].count == sum(20 - i for i in range(11, 15))


@pytest.mark.parametrize(("largest", "step"), [(7, 2), (30, 10), (100, 20), (1, 1), (4200, 1000)])
def test_count_ticks_are_round(largest: float, step: float) -> None:
    assert nice_step(largest) == step


def test_numbers_resolve_a_hundredth_of_the_tolerance() -> None:
    assert decimals_for(9.95, 10.05) == 3
    assert decimals_for(41.975, 42.025) == 4
    assert decimals_for(None, 0.15) == 3
    assert decimals_for(None, None, [120.0, 180.0]) == 1
    assert decimals_for(None, None, [120.0, 1180.0]) == 0
    assert spec_text(9.95, 10.05, 10.0, "mm", 3) == "9.950 \u2013 10.050 mm · nominal 10.000"
    assert spec_text(None, 0.15, None, "mm", 3) == "≤ 0.150 mm"
    assert not math.isnan(decimals_for(None, None))


async def test_the_feed_reports_a_chart_s_new_measurements(app, client) -> None:
    part = (await client.post("/parts", json={"part_number": "P-1", "name": "Pin"})).json()
    chars = await client.post(
        "/characteristics", json={"part_id": part["id"], "name": "length", "lsl": 1, "usl": 2}
    )
    characteristic = chars.json()["id"]
    lot = (
        await client.post("/lots", json={"lot_number": "L", "part_id": part["id"], "quantity": 5})
    ).json()
    inspection = (
        await client.post(
            "/inspections", json={"lot_id": lot["id"], "kind": "final", "sample_size": 5}
        )
    ).json()
    await client.post(f"/inspections/{inspection['id']}/start")
    feed, topic, other = MeasurementFeed(), topic_of(characteristic), topic_of(999_999)
    assert feed.serves(topic) and not feed.serves("plant.status")

    first = await feed.poll(app.state.db, frozenset({topic, other}))
    assert sorted((e.topic, e.data) for e in first) == sorted([(topic, "0-0"), (other, "0-0")])
    assert await feed.poll(app.state.db, frozenset({topic})) == []  # nothing new

    body = [{"characteristic_id": characteristic, "value": v} for v in (1.5, 1.6)]
    response = await client.post(f"/inspections/{inspection['id']}/measurements", json=body)
    [event] = await feed.poll(app.state.db, frozenset({topic}))
    newest = response.json()["items"][-1]["id"]
    assert (event.topic, event.key, event.data) == (topic, topic, f"2-{newest}")
    assert feed.snapshot(frozenset({topic})) == [event]
