"""Quality analytics through the API: the defect Pareto of a line over a week, first-pass
yield per lot and per line, and the rolled throughput yield of a line's steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from shopfloor.core.clock import rfc3339, utcnow
from shopfloor.quality.models import Defect
from tests.core.helpers import assert_problem, error_locs

PRESS, WELD, OTHER = "acme/line-1/press", "acme/line-1/weld", "acme/line-2"


async def ok(client, method: str, url: str, json=None, status: int = 200) -> dict:
    response = await client.request(method, url, json=json)
    assert response.status_code == status, response.text
    return response.json()


async def lot_on(client, line: str, number: str) -> int:
    """A lot of 10 units: Z1.4 plan E (n=13, so all 10 are inspected), Ac 0, Re 1."""
    parts = (await ok(client, "GET", "/parts"))["items"]
    part_id = (
        parts[0]["id"]
        if parts
        else (await ok(client, "POST", "/parts", {"part_number": "P-1", "name": "Part"}, 201))["id"]
    )
    body = {"lot_number": number, "part_id": part_id, "quantity": 10, "line": line}
    return (await ok(client, "POST", "/lots", body, 201))["id"]


async def inspect(client, lot_id: int, defects: list[dict], finish: str = "complete") -> dict:
    body = {"lot_id": lot_id, "kind": "final", "sample_size": 10}
    inspection = await ok(client, "POST", "/inspections", body, 201)
    url = f"/inspections/{inspection['id']}"
    await ok(client, "POST", f"{url}/start")
    if defects:
        await ok(client, "POST", f"{url}/defects", defects, 201)
    return await ok(client, "POST", f"{url}/{finish}")


def window(days: int = 7, end_in: timedelta = timedelta(minutes=5)) -> dict[str, str]:
    now = utcnow()
    return {"start": rfc3339(now - timedelta(days=days)), "end": rfc3339(now + end_in)}


async def test_pareto_of_a_line_over_a_week(app, client):
    await ok(client, "POST", "/defect-types", {"code": "scratch", "name": "Scratch"}, 201)
    press, weld, other = (
        await lot_on(client, PRESS, "L1"),
        await lot_on(client, WELD, "L2"),
        await lot_on(client, OTHER, "L3"),
    )
    minor = "minor"
    await inspect(
        client,
        press,
        [
            {"defect_type": "scratch", "severity": minor, "count": 3},
            {"defect_type": "dent", "severity": "major", "count": 2},
            {"defect_type": "burr", "severity": minor},
        ],
    )
    await inspect(
        client,
        weld,
        [
            {"defect_type": "scratch", "severity": minor, "count": 2},
            {"defect_type": "dent", "severity": "major"},
            {"defect_type": "crack", "severity": "critical", "location": "weld seam"},
        ],
    )
    # Not counted: a cancelled inspection, another line, and a defect from before the week.
    await inspect(
        client, weld, [{"defect_type": "scratch", "severity": minor, "count": 7}], "cancel"
    )
    await inspect(client, other, [{"defect_type": "scratch", "severity": minor, "count": 20}])
    async with app.state.db.write() as session:
        await session.execute(
            update(Defect)
            .where(Defect.defect_type == "burr")
            .values(created_at=utcnow() - timedelta(days=10))
        )

    response = await client.get("/quality/pareto", params={"under": "acme/line-1", **window()})
    assert response.status_code == 200, response.text
    pareto = response.json()
    assert pareto["total"] == 9
    assert pareto["items"] == [
        {
            "defect_type": "scratch",
            "name": "Scratch",
            "count": 5,
            "percent": 55.56,
            "cumulative_percent": 55.56,
        },
        {
            "defect_type": "dent",
            "name": "dent",
            "count": 3,
            "percent": 33.33,
            "cumulative_percent": 88.89,
        },
        {
            "defect_type": "crack",
            "name": "crack",
            "count": 1,
            "percent": 11.11,
            "cumulative_percent": 100.0,
        },
    ]

    everything = (await client.get("/quality/pareto", params={"under": "acme/line-1"})).json()
    assert [(i["defect_type"], i["count"]) for i in everything["items"]] == [
        ("scratch", 5),
        ("dent", 3),
        ("burr", 1),
        ("crack", 1),
    ]
    plant = (await client.get("/quality/pareto")).json()
    assert plant["items"][0] == {
        "defect_type": "scratch",
        "name": "Scratch",
        "count": 25,
        "percent": pytest.approx(100 * 25 / 30, abs=0.01),
        "cumulative_percent": pytest.approx(100 * 25 / 30, abs=0.01),
    }
    quiet = await client.get("/quality/pareto", params=window(end_in=-timedelta(days=1)))
    assert quiet.json() == {"items": [], "total": 0}


async def test_analytics_refuse_bad_parameters(client):
    for url in ("/quality/pareto", "/quality/yield"):
        for params, loc in [
            ({"start": "yesterday"}, ["query", "start"]),
            ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, ["query", "end"]),
            ({"under": "Acme/Line 1"}, ["query", "under"]),
        ]:
            response = await client.get(url, params=params)
            assert error_locs(assert_problem(response, 422)) == [loc], (url, params)


async def test_first_pass_yield_and_rolled_throughput_yield(client):
    crack = [{"defect_type": "crack", "severity": "critical"}]
    dent = [{"defect_type": "dent", "severity": "major"}]
    # The press step: 4 lots, 3 accepted at their first inspection.
    press_lots = [await lot_on(client, PRESS, f"P{i}") for i in range(4)]
    for lot in press_lots[:3]:
        assert (await inspect(client, lot, []))["disposition"] == "accept"
    assert (await inspect(client, press_lots[3], crack))["disposition"] == "reject"
    # The weld step: 2 lots; one reworked first and accepted later, which is no first pass.
    weld_lots = [await lot_on(client, WELD, f"W{i}") for i in range(2)]
    assert (await inspect(client, weld_lots[0], []))["disposition"] == "accept"
    assert (await inspect(client, weld_lots[1], dent))["disposition"] == "rework"
    assert (await inspect(client, weld_lots[1], []))["disposition"] == "accept"
    # Not counted under line 1: another line, a lot only cancelled, a lot never inspected.
    await inspect(client, await lot_on(client, OTHER, "O1"), [])
    await inspect(client, await lot_on(client, WELD, "W-cancelled"), [], "cancel")
    await lot_on(client, WELD, "W-waiting")

    response = await client.get("/quality/yield", params={"under": "acme/line-1", **window()})
    assert response.status_code == 200, response.text
    figures = response.json()
    assert (figures["lots_inspected"], figures["lots_first_pass"]) == (6, 4)
    assert figures["first_pass_yield"] == pytest.approx(4 / 6)
    lines = {line["line"]: line for line in figures["lines"]}
    assert lines.keys() == {PRESS, WELD}
    assert (lines[PRESS]["lots_inspected"], lines[PRESS]["first_pass_yield"]) == (4, 0.75)
    assert (lines[WELD]["lots_inspected"], lines[WELD]["first_pass_yield"]) == (2, 0.5)
    assert figures["steps"] == [PRESS, WELD]
    assert figures["rolled_throughput_yield"] == pytest.approx(0.75 * 0.5)

    lots = {lot["lot_id"]: lot for lot in figures["lots"]}
    assert len(lots) == 6
    assert lots[weld_lots[1]]["disposition"] == "rework" and not lots[weld_lots[1]]["first_pass"]
    assert lots[press_lots[0]]["first_pass"] and lots[press_lots[0]]["unit_yield"] == 1.0
    assert lots[weld_lots[1]]["unit_yield"] == pytest.approx(0.9)  # 1 of 10 units had a dent

    plant = (await client.get("/quality/yield")).json()
    assert (plant["lots_inspected"], plant["lots_first_pass"]) == (7, 5)
    assert plant["rolled_throughput_yield"] is None and plant["steps"] == []
    assert {line["line"] for line in plant["lines"]} == {PRESS, WELD, OTHER}

    past = (await client.get("/quality/yield", params=window(end_in=-timedelta(days=1)))).json()
    assert (past["lots_inspected"], past["first_pass_yield"], past["lots"]) == (0, None, [])
    step = (await client.get("/quality/yield", params={"under": WELD})).json()
    assert step["steps"] == [WELD] and step["rolled_throughput_yield"] == 0.5
