"""SPC through the API: control charts built from inspections' measurements (individuals,
subgroups, attribute data), the rules they break, phase II against stored limits, capability
against hand-computed values, and the 404/422 answers for what a chart cannot use."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.core.helpers import assert_problem

LINE = "acme/machining/line-2"
T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
# In control around 10.00 (mean exactly 10.00, MR-bar 0.44/9), then the mean shifts up by
# about 1.4 sigma: below the upper limit, but ten points in a row above the centre line.
BEFORE = [10.02, 9.97, 10.03, 9.98, 10.01, 9.99, 10.02, 9.96, 10.04, 9.98]
AFTER = [10.06, 10.08, 10.05, 10.07, 10.06, 10.09, 10.05, 10.07, 10.06, 10.08]


async def ok(client, method: str, url: str, json: Any = None, status: int = 200) -> Any:
    response = await client.request(method, url, json=json)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def make_characteristic(
    client,
    *,
    number: str = "P-100",
    name: str = "bore diameter",
    kind: str = "variable",
    lsl: float | None = 9.7,
    usl: float | None = 10.3,
    line: str | None = LINE,
) -> dict[str, int]:
    """A part with one characteristic and a lot of 1000 made on ``line``; their ids."""
    part = await ok(client, "POST", "/parts", {"part_number": number, "name": "Housing"}, 201)
    spec: dict[str, Any] = {"part_id": part["id"], "name": name, "kind": kind, "unit": "mm"}
    if kind == "variable":
        spec |= {"lsl": lsl, "usl": usl}
    characteristic = await ok(client, "POST", "/characteristics", spec, 201)
    lot: dict[str, Any] = {"lot_number": f"L-{number}", "part_id": part["id"], "quantity": 1000}
    if line is not None:
        lot["line"] = line
    made = await ok(client, "POST", "/lots", lot, 201)
    return {"part": part["id"], "characteristic": characteristic["id"], "lot": made["id"]}


async def inspect(
    client,
    made: dict[str, int],
    values: list[float],
    *,
    start: int = 0,
    subgroups: list[int] | None = None,
    sample_size: int | None = None,
) -> int:
    """One started inspection recording ``values``, measured a minute apart from T0 + start
    minutes; returns its id."""
    body = {"lot_id": made["lot"], "kind": "in_process", "sample_size": sample_size or len(values)}
    inspection = await ok(client, "POST", "/inspections", body, 201)
    await ok(client, "POST", f"/inspections/{inspection['id']}/start")
    items = []
    for i, value in enumerate(values):
        item: dict[str, Any] = {
            "characteristic_id": made["characteristic"],
            "value": value,
            "measured_at": (T0 + timedelta(minutes=start + i)).isoformat(),
        }
        if subgroups is not None:
            item["subgroup"] = subgroups[i]
        items.append(item)
    await ok(client, "POST", f"/inspections/{inspection['id']}/measurements", items, 201)
    return inspection["id"]


def at(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def by_rule(chart: dict, rule: str) -> list[int]:
    return [v["index"] for v in chart["violations"] if v["rule"] == rule]


async def test_a_shift_after_ten_points_breaks_n2_at_the_ninth_point_above(client):
    made = await make_characteristic(client)
    # Two inspections, posted out of time order: points follow the measurement times.
    await inspect(client, made, AFTER, start=10)
    await inspect(client, made, BEFORE, start=0)
    chart = await ok(client, "GET", f"/spc/{made['characteristic']}?baseline=10")
    assert chart["chart"] == "imr"
    assert [p["value"] for p in chart["points"]] == BEFORE + AFTER
    assert [p["index"] for p in chart["points"]] == list(range(1, 21))
    assert chart["points"][0]["ts"] == at(0) and chart["points"][-1]["ts"] == at(19)
    mr_bar = sum(abs(b - a) for a, b in itertools.pairwise(BEFORE)) / 9
    assert chart["center"] == pytest.approx(10.0)
    assert chart["ucl"] == pytest.approx(10.0 + 3 * mr_bar / (2 / math.sqrt(math.pi)))
    assert (chart["phase"], chart["baseline_count"]) == ("I", 10)
    # Points 11-19 are the first nine in a row above the centre line; 20 extends the run.
    assert by_rule(chart, "N2") == [19, 20]
    assert by_rule(chart, "WE4") == [18, 19, 20]
    assert not [v for v in chart["violations"] if v["index"] <= 10]
    n2 = next(v for v in chart["violations"] if v["rule"] == "N2")
    assert n2["description"] == "N2: 9 points in a row above the centre line (points 11\u201319)"
    dispersion = chart["dispersion"]
    assert dispersion["chart"] == "mr"
    assert dispersion["center"] == pytest.approx(mr_bar)
    assert [p["index"] for p in dispersion["points"]] == list(range(2, 21))
    assert dispersion["points"][0]["ts"] == at(1)
    # Only the last points, judged by the same limits.
    tail = await ok(client, "GET", f"/spc/{made['characteristic']}?baseline=10&limit=3")
    assert [p["index"] for p in tail["points"]] == [18, 19, 20]
    assert tail["ucl"] == chart["ucl"] and by_rule(tail, "N2") == [19, 20]


async def test_stored_limits_judge_new_points_in_phase_ii(client):
    made = await make_characteristic(client)
    url = f"/spc/{made['characteristic']}"
    await inspect(client, made, BEFORE)
    limits = await ok(client, "POST", f"{url}/limits", {"chart": "imr"}, 201)
    assert limits["chart"] == "imr" and limits["baseline_count"] == 10
    assert limits["center"] == pytest.approx(10.0)
    assert limits["dispersion"]["chart"] == "mr"
    assert limits["violations"] == []
    await inspect(client, made, AFTER, start=10)
    chart = await ok(client, "GET", url)
    assert chart["phase"] == "II"
    assert chart["limits_from"].startswith(f"stored at {limits['computed_at']}")
    assert (chart["center"], chart["ucl"], chart["lcl"]) == (
        limits["center"],
        limits["ucl"],
        limits["lcl"],
    )
    assert by_rule(chart, "N2") == [19, 20]
    listed = await ok(client, "GET", f"{url}/limits")
    assert [item["chart"] for item in listed["items"]] == ["imr"]
    # Phase I over all points again: the centre moves up, the shift shows as a run below it
    # at the start and a run above it at the end.
    again = await ok(client, "GET", f"{url}?baseline=20")
    assert again["phase"] == "I" and again["center"] > limits["center"]
    assert await ok(client, "DELETE", f"{url}/limits?chart=imr", status=204) is None
    forgotten = await ok(client, "GET", url)
    assert forgotten["phase"] == "I" and forgotten["limits_from"] == "all 20 points"
    assert (await ok(client, "GET", f"{url}/limits"))["items"] == []


async def test_subgroups_are_numbered_within_each_inspection(client):
    made = await make_characteristic(client)
    # Subgroup numbers 1 and 2 repeat in the second inspection: four subgroups of three.
    first = [10.0, 10.1, 9.9, 10.2, 10.0, 10.1]
    second = [9.8, 10.0, 10.1, 10.0, 10.3, 9.9]
    numbers = [1, 1, 1, 2, 2, 2]
    await inspect(client, made, first, subgroups=numbers)
    await inspect(client, made, second, start=6, subgroups=numbers)
    # A subgroup still being measured is left out.
    await inspect(client, made, [10.0], start=12, subgroups=[1])
    chart = await ok(client, "GET", f"/spc/{made['characteristic']}")
    assert chart["chart"] == "xbar_r" and chart["subgroup_size"] == 3
    groups = [first[:3], first[3:], second[:3], second[3:]]
    assert [p["value"] for p in chart["points"]] == pytest.approx(
        [statistics.mean(g) for g in groups]
    )
    assert [p["ts"] for p in chart["points"]] == [at(2), at(5), at(8), at(11)]
    ranges = [max(g) - min(g) for g in groups]
    assert [p["value"] for p in chart["dispersion"]["points"]] == pytest.approx(ranges)
    assert chart["dispersion"]["center"] == pytest.approx(statistics.mean(ranges))
    assert any("left out" in note for note in chart["notes"])
    s_chart = await ok(client, "GET", f"/spc/{made['characteristic']}?chart=xbar_s")
    assert s_chart["dispersion"]["chart"] == "s"


async def test_consecutive_values_form_subgroups_of_the_size_asked(client):
    made = await make_characteristic(client)
    await inspect(client, made, BEFORE + AFTER[:2])
    chart = await ok(client, "GET", f"/spc/{made['characteristic']}?subgroup_size=4")
    assert chart["chart"] == "xbar_r"
    assert len(chart["points"]) == 3
    assert chart["points"][0]["value"] == pytest.approx(statistics.mean(BEFORE[:4]))
    assert chart["points"][2]["ts"] == at(11)


async def test_attribute_data_chart_nonconforming_units_per_inspection(client):
    made = await make_characteristic(client, number="P-200", name="scratches", kind="attribute")
    # Three inspections of 50 units; only some units are entered (the rest count as good).
    found = [[1, 0, 1, 0], [0, 0, 2], [1, 1, 1, 0, 3]]
    start = 0
    for units in found:
        await inspect(client, made, [float(v) for v in units], start=start, sample_size=50)
        start += len(units)
    url = f"/spc/{made['characteristic']}"
    p = await ok(client, "GET", url)
    assert p["chart"] == "p" and p["dispersion"] is None
    assert [pt["value"] for pt in p["points"]] == pytest.approx([2 / 50, 1 / 50, 4 / 50])
    assert [pt["n"] for pt in p["points"]] == [50, 50, 50]
    assert p["center"] == pytest.approx(7 / 150)
    c = await ok(client, "GET", f"{url}?chart=c")
    assert [pt["value"] for pt in c["points"]] == [2, 2, 6]
    u = await ok(client, "GET", f"{url}?chart=u")
    assert u["center"] == pytest.approx(10 / 150)
    problem = await client.get(f"{url}?chart=imr")
    assert_problem(problem, 422)
    assert problem.json()["errors"][0]["loc"] == ["query", "chart"]


async def test_capability_matches_hand_computed_values(client):
    made = await make_characteristic(client, lsl=9.7, usl=10.3)
    values = [*BEFORE, 9.99, 10.01, 10.02, 9.98, 10.0]
    await inspect(client, made, values)
    got = await ok(client, "GET", f"/capability/{made['characteristic']}")
    mean = statistics.fmean(values)
    moving = [abs(b - a) for a, b in itertools.pairwise(values)]
    within = statistics.fmean(moving) / (2 / math.sqrt(math.pi))  # MR-bar / d2(2)
    overall = statistics.stdev(values)
    assert got["n"] == 15
    assert got["mean"] == pytest.approx(mean, rel=1e-12)
    assert got["sigma_within"] == pytest.approx(within, rel=1e-9)
    assert got["sigma_overall"] == pytest.approx(overall, rel=1e-12)
    assert got["cp"] == pytest.approx(0.6 / (6 * within), rel=1e-9)
    assert got["cpk"] == pytest.approx(min(10.3 - mean, mean - 9.7) / (3 * within), rel=1e-9)
    assert got["pp"] == pytest.approx(0.6 / (6 * overall), rel=1e-9)
    assert got["ppk"] == pytest.approx(min(10.3 - mean, mean - 9.7) / (3 * overall), rel=1e-9)
    assert (got["lsl"], got["usl"], got["chart"]) == (9.7, 10.3, "imr")
    assert got["in_control"] is True
    assert any("fewer than 30" in warning for warning in got["warnings"])
    # After the shift the chart breaks rules: the indices come with a warning.
    await inspect(client, made, AFTER, start=15)
    shifted = await ok(client, "GET", f"/capability/{made['characteristic']}")
    assert shifted["in_control"] is False and "N2" in shifted["broken_rules"]
    assert any("not in statistical control" in warning for warning in shifted["warnings"])


async def test_what_a_chart_cannot_use_is_422_naming_the_parameter(client):
    assert_problem(await client.get("/spc/987654"), 404)
    assert_problem(await client.get("/capability/987654"), 404)
    assert_problem(await client.post("/spc/987654/limits", json={}), 404)
    made = await make_characteristic(client)
    url = f"/spc/{made['characteristic']}"
    await inspect(client, made, [10.0])
    few = await client.get(url)
    assert_problem(few, 422)
    assert few.json()["errors"][0]["loc"] == ["path", "characteristic_id"]
    assert "at least 2" in few.json()["detail"]
    await inspect(client, made, [10.1, 9.9], start=1)
    for query, field in [
        ("?baseline=5", "baseline"),
        ("?chart=p", "chart"),
        ("?chart=xbar_r", "subgroup_size"),
        ("?chart=xbar_r&subgroup_size=1", "subgroup_size"),
        ("?chart=bogus", "chart"),
        ("?limit=0", "limit"),
    ]:
        response = await client.get(url + query)
        assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["query", field], query
    body = await client.post(f"{url}/limits", json={"chart": "imr", "baseline": 9})
    assert_problem(body, 422)
    assert body.json()["errors"][0]["loc"] == ["body", "baseline"]
    attribute = await make_characteristic(client, number="P-300", name="dents", kind="attribute")
    capability = await client.get(f"/capability/{attribute['characteristic']}")
    assert_problem(capability, 422)
    open_spec = await make_characteristic(client, number="P-400", lsl=None, usl=None)
    await inspect(client, open_spec, [10.0, 10.1, 9.9])
    no_limits = await client.get(f"/capability/{open_spec['characteristic']}")
    assert_problem(no_limits, 422)
    assert no_limits.json()["errors"][0]["loc"] == ["characteristic", "lsl"]
