"""The demo's quality records: recorded once through the quality services, and realistic
enough to show every part of the quality pages (charts with rules broken, a Pareto, open work)."""

from __future__ import annotations

from shopfloor.demo.quality import seed_quality


async def test_the_quality_records_are_seeded_once_and_tell_a_story(app, client):
    first = await seed_quality(app.state.db)
    second = await seed_quality(app.state.db)
    assert (first.parts, first.lots) == (2, 52)
    assert first.measurements > 400 and len(first.events) == first.measurements
    assert (second.parts, second.lots, second.measurements) == (0, 0, 0)

    open_ = (await client.get("/inspections", params={"state": ["planned", "in_progress"]})).json()
    assert sorted(i["state"] for i in open_["items"]) == ["in_progress"] * 2 + ["planned"] * 2
    done = (await client.get("/inspections", params={"state": "completed", "limit": 100})).json()
    dispositions = {i["disposition"] for i in done["items"]}
    assert "accept" in dispositions and dispositions & {"reject", "rework"}

    characteristics = {c["name"]: c for c in (await client.get("/characteristics")).json()["items"]}
    hole = (await client.get(f"/spc/{characteristics['hole diameter']['id']}")).json()
    assert hole["chart"] == "imr"
    late = len(hole["points"]) - 25
    assert any(v["index"] > late for v in hole["violations"]), "the drift at the end is flagged"
    bore = (await client.get(f"/spc/{characteristics['bore diameter']['id']}")).json()
    assert (bore["chart"], bore["subgroup_size"]) == ("xbar_r", 5)
    leak = (await client.get(f"/spc/{characteristics['leak test']['id']}")).json()
    assert leak["chart"] == "p"

    pareto = (await client.get("/quality/pareto")).json()
    counts = [item["count"] for item in pareto["items"]]
    assert len(counts) >= 5 and counts == sorted(counts, reverse=True)
