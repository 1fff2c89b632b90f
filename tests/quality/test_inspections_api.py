"""Inspections through the API: a lot inspected end to end and rejected or accepted, every
illegal transition, all-or-nothing batches naming bad items, the defect catalogue growing,
idempotent recording, and the ``quality.measured`` events published for SPC."""

from __future__ import annotations

import asyncio
import time

import pytest

from shopfloor.quality.events import QUALITY_MEASURED
from tests.core.helpers import assert_problem, error_locs

LINE = "acme/line-1/weld"


async def ok(client, method: str, url: str, json=None, status: int = 200) -> dict:
    response = await client.request(method, url, json=json)
    assert response.status_code == status, response.text
    return response.json()


async def make_lot(client, quantity: int = 1000, aql: float = 1.0, number: str = "L-1") -> dict:
    """A part with a diameter spec of 10 ± 0.1 mm, a second part, and a lot of the first."""
    part = await ok(
        client, "POST", "/parts", {"part_number": f"P-{number}", "name": "Shaft", "aql": aql}, 201
    )
    other = await ok(client, "POST", "/parts", {"part_number": f"O-{number}", "name": "Nut"}, 201)
    spec = {"name": "diameter", "unit": "mm", "lsl": 9.9, "usl": 10.1, "target": 10.0}
    diameter = await ok(client, "POST", "/characteristics", {"part_id": part["id"], **spec}, 201)
    foreign = await ok(client, "POST", "/characteristics", {"part_id": other["id"], **spec}, 201)
    lot = await ok(
        client,
        "POST",
        "/lots",
        {"lot_number": number, "part_id": part["id"], "quantity": quantity, "line": LINE},
        201,
    )
    return {"part": part, "lot": lot, "diameter": diameter["id"], "foreign": foreign["id"]}


async def started(client, lot_id: int, sample_size: int) -> dict:
    body = {"lot_id": lot_id, "kind": "final", "sample_size": sample_size}
    inspection = await ok(client, "POST", "/inspections", body, 201)
    return await ok(client, "POST", f"/inspections/{inspection['id']}/start")


def sample(diameter: int, bad: dict[str, float], size: int = 80) -> list[dict]:
    """``size`` units U1…, each measured once; the units named in ``bad`` out of spec."""
    return [
        {"characteristic_id": diameter, "value": bad.get(f"U{i}", 10.0), "unit_serial": f"U{i}"}
        for i in range(1, size + 1)
    ]


async def measured_events(app, want: int, timeout_s: float = 10.0) -> list[dict]:
    bus = app.state.pipeline.bus
    payloads: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(payloads) < want and time.monotonic() < deadline:
        deliveries = await bus.consume(QUALITY_MEASURED, "test", "t", count=100, block_s=0.5)
        payloads += [delivery.envelope.payload for delivery in deliveries]
        await bus.ack(QUALITY_MEASURED, "test", [delivery.receipt for delivery in deliveries])
    return payloads


async def test_a_lot_is_inspected_end_to_end_and_rejected(app, client):
    made = await make_lot(client)
    planned = await ok(
        client,
        "POST",
        "/inspections",
        {"lot_id": made["lot"]["id"], "kind": "final", "sample_size": 80},
        201,
    )
    assert (planned["state"], planned["inspector"], planned["disposition"]) == (
        "planned",
        None,
        None,
    )
    url = f"/inspections/{planned['id']}"
    running = await ok(client, "POST", f"{url}/start")
    assert (running["state"], running["inspector"]) == ("in_progress", "admin")
    assert running["started_at"] is not None

    units = sample(made["diameter"], {"U5": 10.3, "U17": 9.7, "U40": 10.25})
    first = await ok(client, "POST", f"{url}/measurements", units[:50], 201)
    assert first["accepted"] == 50
    assert [m["conforming"] for m in first["items"]].count(False) == 3
    await ok(client, "POST", f"{url}/measurements", units[50:], 201)
    scratch = [{"defect_type": "scratch", "severity": "minor", "location": "cover"}]
    await ok(client, "POST", f"{url}/defects", scratch, 201)

    done = await ok(client, "POST", f"{url}/complete")
    assert (done["state"], done["disposition"]) == ("completed", "reject")
    assert done["reasons"][0] == (
        "plan J (lot 1000, AQL 1.0, Z1.4 level II normal): n=80, Ac 2, Re 3"
    )
    assert (
        "3 nonconforming units in a sample of 80 (Ac 2, Re 3): more than the acceptance number"
        in done["reasons"]
    )
    assert "unit U5: diameter 10.3 mm above USL 10.1 mm" in done["reasons"]
    assert "unit U17: diameter 9.7 mm below LSL 9.9 mm" in done["reasons"]
    assert done["nonconforming_units"] == 3
    assert done["quality_score"] == pytest.approx(100 - 2 - 5 * 100 * 3 / 80, abs=0.06)
    assert done["plan"]["code_letter"] == "J" and done["plan"]["sample_size"] == 80
    assert (done["measurement_count"], done["defect_count"]) == (80, 1)
    assert (await ok(client, "GET", url)) == done


async def test_a_lot_is_inspected_end_to_end_and_accepted(client):
    made = await make_lot(client)
    url = f"/inspections/{(await started(client, made['lot']['id'], 80))['id']}"
    units = sample(made["diameter"], {"U3": 10.2, "U9": 9.8})
    await ok(client, "POST", f"{url}/measurements", units, 201)
    defects = [
        {"defect_type": "scratch", "severity": "minor", "location": "cover", "count": 2},
        {"defect_type": "stain", "severity": "minor"},
    ]
    await ok(client, "POST", f"{url}/defects", defects, 201)

    done = await ok(client, "POST", f"{url}/complete")
    assert done["disposition"] == "accept"
    assert done["reasons"][0].startswith("plan J")
    assert (
        "2 nonconforming units in a sample of 80 (Ac 2, Re 3): within the acceptance number"
        in done["reasons"]
    )
    assert (
        "3 minor defects: scratch at cover (2); stain (not counted against the AQL)"
        in done["reasons"]
    )
    assert done["defect_count"] == 3


async def test_a_critical_defect_rejects_the_lot(client):
    made = await make_lot(client)
    url = f"/inspections/{(await started(client, made['lot']['id'], 80))['id']}"
    await ok(client, "POST", f"{url}/measurements", sample(made["diameter"], {}), 201)
    crack = [{"defect_type": "crack", "severity": "critical", "location": "weld seam"}]
    await ok(client, "POST", f"{url}/defects", crack, 201)
    done = await ok(client, "POST", f"{url}/complete")
    assert done["disposition"] == "reject"
    assert "1 critical defect: crack at weld seam" in done["reasons"]


async def test_too_small_a_sample_is_held(client):
    made = await make_lot(client)
    url = f"/inspections/{(await started(client, made['lot']['id'], 20))['id']}"
    await ok(client, "POST", f"{url}/measurements", sample(made["diameter"], {}, 20), 201)
    done = await ok(client, "POST", f"{url}/complete")
    assert done["disposition"] == "hold"
    assert "sampled 20 units; plan J needs 80" in done["reasons"]


async def test_every_illegal_transition_is_409(client):
    made = await make_lot(client)
    lot_id = made["lot"]["id"]
    good = sample(made["diameter"], {}, 1)
    defect = [{"defect_type": "dent", "severity": "major"}]
    body = {"lot_id": lot_id, "kind": "incoming", "sample_size": 80}

    planned = f"/inspections/{(await ok(client, 'POST', '/inspections', body, 201))['id']}"
    for url, payload in [
        (f"{planned}/measurements", good),
        (f"{planned}/defects", defect),
        (f"{planned}/complete", None),
    ]:
        body_ = assert_problem(await client.post(url, json=payload), 409, "illegal-transition")
        assert "planned" in body_["detail"]

    await ok(client, "POST", f"{planned}/start")
    assert_problem(await client.post(f"{planned}/start"), 409, "illegal-transition")
    await ok(client, "POST", f"{planned}/cancel")  # in progress → cancelled
    for url, payload in [
        (f"{planned}/complete", None),
        (f"{planned}/cancel", None),
        (f"{planned}/start", None),
        (f"{planned}/measurements", good),
        (f"{planned}/defects", defect),
    ]:
        assert_problem(await client.post(url, json=payload), 409, "illegal-transition")

    completed = f"/inspections/{(await started(client, lot_id, 80))['id']}"
    await ok(client, "POST", f"{completed}/complete")
    for url, payload in [
        (f"{completed}/cancel", None),
        (f"{completed}/complete", None),
        (f"{completed}/start", None),
        (f"{completed}/measurements", good),
        (f"{completed}/defects", defect),
    ]:
        assert_problem(await client.post(url, json=payload), 409, "illegal-transition")
    assert (await ok(client, "GET", completed))["measurement_count"] == 0

    # A planned inspection may be cancelled straight away.
    other = f"/inspections/{(await ok(client, 'POST', '/inspections', body, 201))['id']}"
    assert (await ok(client, "POST", f"{other}/cancel"))["state"] == "cancelled"


async def test_an_unknown_inspection_is_404_for_every_call(client):
    for method, url, body in [
        ("GET", "/inspections/424242", None),
        ("GET", "/inspections/99999999999", None),
        ("POST", "/inspections/424242/start", None),
        ("POST", "/inspections/424242/complete", None),
        ("POST", "/inspections/424242/cancel", None),
        ("POST", "/inspections/424242/measurements", [{"characteristic_id": 1, "value": 1}]),
        ("GET", "/inspections/424242/measurements", None),
        ("POST", "/inspections/424242/defects", [{"defect_type": "x", "severity": "minor"}]),
        ("GET", "/inspections/424242/defects", None),
    ]:
        assert_problem(await client.request(method, url, json=body), 404, "not-found")


async def test_concurrent_starts_make_one_inspector(client):
    made = await make_lot(client)
    body = {"lot_id": made["lot"]["id"], "kind": "final", "sample_size": 5}
    url = f"/inspections/{(await ok(client, 'POST', '/inspections', body, 201))['id']}/start"
    responses = await asyncio.gather(*(client.post(url) for _ in range(4)))
    assert sorted(response.status_code for response in responses) == [200, 409, 409, 409]


async def test_bad_measurement_items_are_named_by_index_and_nothing_is_stored(app, client):
    made = await make_lot(client)
    url = f"/inspections/{(await started(client, made['lot']['id'], 80))['id']}/measurements"
    diameter, foreign = made["diameter"], made["foreign"]
    items = [
        {"characteristic_id": diameter, "value": 10.0},
        {"characteristic_id": diameter, "value": "thick"},
        {"characteristic_id": foreign, "value": 10.0},
        {"characteristic_id": 424242, "value": 10.0},
        {"value": 10.0},
        {"characteristic_id": diameter, "value": 10.0, "colour": "red"},
        {"characteristic_id": diameter, "value": 10.0, "subgroup": -1},
    ]
    body = assert_problem(await client.post(url, json=items), 422, "validation-error")
    assert sorted({error["index"] for error in body["errors"]}) == [1, 2, 3, 4, 5, 6]
    assert [1, "value"] in error_locs(body) and [2, "characteristic_id"] in error_locs(body)
    wrong_part = next(error for error in body["errors"] if error["index"] == 2)
    assert "belongs to part" in wrong_part["msg"]

    nan = b'[{"characteristic_id": %d, "value": 1}, {"characteristic_id": %d, "value": NaN}]'
    response = await client.post(
        url, content=nan % (diameter, diameter), headers={"content-type": "application/json"}
    )
    assert error_locs(assert_problem(response, 422)) == [[1, "value"]]
    for not_a_batch in ({"characteristic_id": diameter, "value": 1}, []):
        assert_problem(await client.post(url, json=not_a_batch), 422)

    assert (await ok(client, "GET", url))["items"] == []
    assert await measured_events(app, 1, timeout_s=1.0) == []


async def test_measurements_are_published_for_spc(app, client):
    made = await make_lot(client)
    inspection = await started(client, made["lot"]["id"], 80)
    url = f"/inspections/{inspection['id']}/measurements"
    items = [
        {"characteristic_id": made["diameter"], "value": 10.02, "unit_serial": "U1", "subgroup": 1},
        {"characteristic_id": made["diameter"], "value": 9.97, "subgroup": 1},
    ]
    stored = (await ok(client, "POST", url, items, 201))["items"]
    payloads = await measured_events(app, 2)
    assert sorted(payloads, key=lambda p: p["measurement_id"]) == [
        {
            "measurement_id": row["id"],
            "characteristic_id": made["diameter"],
            "part_id": made["part"]["id"],
            "lot_id": made["lot"]["id"],
            "inspection_id": inspection["id"],
            "line": LINE,
            "value": item["value"],
            "subgroup": 1,
            "unit_serial": item.get("unit_serial"),
            "measured_at": row["measured_at"],  # RFC 3339 UTC in both
        }
        for row, item in zip(stored, items, strict=True)
    ]
    listed = await ok(client, "GET", url)
    assert [m["id"] for m in listed["items"]] == [row["id"] for row in stored]


async def test_recording_honours_the_idempotency_key(app, client):
    made = await make_lot(client)
    url = f"/inspections/{(await started(client, made['lot']['id'], 80))['id']}"
    headers = {"Idempotency-Key": "batch-1"}
    items = sample(made["diameter"], {}, 3)
    first = await client.post(f"{url}/measurements", json=items, headers=headers)
    again = await client.post(f"{url}/measurements", json=items, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert len((await ok(client, "GET", f"{url}/measurements"))["items"]) == 3
    assert len(await measured_events(app, 4, timeout_s=2.0)) == 3

    defect = [{"defect_type": "dent", "severity": "major"}]
    for _ in range(2):
        response = await client.post(
            f"{url}/defects", json=defect, headers={"Idempotency-Key": "d"}
        )
        assert response.status_code == 201
    assert (await ok(client, "GET", url))["defect_count"] == 1

    body = {"lot_id": made["lot"]["id"], "kind": "final", "sample_size": 80}
    key = {"Idempotency-Key": "inspection-1"}
    created = [await client.post("/inspections", json=body, headers=key) for _ in range(2)]
    assert created[0].json() == created[1].json()
    assert len((await ok(client, "GET", "/inspections"))["items"]) == 2


async def test_unknown_defect_types_join_the_catalogue(client):
    made = await make_lot(client)
    await ok(client, "POST", "/defect-types", {"code": "burr", "default_severity": "major"}, 201)
    url = f"/inspections/{(await started(client, made['lot']['id'], 80))['id']}/defects"
    recorded = await ok(
        client,
        "POST",
        url,
        [
            {"defect_type": "burr", "location": "edge", "unit_serial": "U4"},
            {"defect_type": "porosity", "severity": "major", "count": 2},
            {"defect_type": "porosity"},
        ],
        201,
    )
    assert recorded["new_defect_types"] == ["porosity"]
    assert [d["severity"] for d in recorded["items"]] == ["major", "major", "major"]
    catalogue = (await ok(client, "GET", "/defect-types"))["items"]
    assert {(d["code"], d["default_severity"]) for d in catalogue} == {
        ("burr", "major"),
        ("porosity", "major"),
    }
    listed = (await ok(client, "GET", url))["items"]
    assert [(d["defect_type"], d["count"]) for d in listed] == [
        ("burr", 1),
        ("porosity", 2),
        ("porosity", 1),
    ]

    response = await client.post(url, json=[{"defect_type": "blister"}, {"defect_type": "x y"}])
    body = assert_problem(response, 422)
    assert error_locs(body) == [[0, "severity"], [1, "defect_type"]]
    assert "blister" not in {d["code"] for d in (await ok(client, "GET", "/defect-types"))["items"]}


async def test_inspections_are_listed_newest_first_and_filtered(client):
    made = await make_lot(client)
    other = await ok(
        client,
        "POST",
        "/lots",
        {"lot_number": "L-2", "part_id": made["part"]["id"], "quantity": 50},
        201,
    )
    first = await started(client, made["lot"]["id"], 80)
    second = await ok(
        client,
        "POST",
        "/inspections",
        {"lot_id": other["id"], "kind": "in_process", "sample_size": 8},
        201,
    )
    everything = (await ok(client, "GET", "/inspections"))["items"]
    assert [i["id"] for i in everything] == [second["id"], first["id"]]
    by_lot = await client.get("/inspections", params={"lot_id": made["lot"]["id"]})
    assert [i["id"] for i in by_lot.json()["items"]] == [first["id"]]
    by_state = await client.get("/inspections", params={"state": "planned"})
    assert [i["id"] for i in by_state.json()["items"]] == [second["id"]]
    page = await client.get("/inspections", params={"limit": 1})
    rest = await client.get(
        "/inspections", params={"limit": 1, "cursor": page.json()["next_cursor"]}
    )
    assert [i["id"] for i in rest.json()["items"]] == [first["id"]]
    assert_problem(await client.get("/inspections", params={"state": "lost"}), 422)


async def test_an_inspection_needs_a_lot_and_a_sample_it_can_hold(client):
    made = await make_lot(client, quantity=50)
    for bad, loc in [
        ({"lot_id": 424242}, ["lot_id"]),
        ({"sample_size": 51}, ["sample_size"]),
        ({"sample_size": 0}, ["sample_size"]),
        ({"kind": "random"}, ["kind"]),
    ]:
        body = {"lot_id": made["lot"]["id"], "kind": "final", "sample_size": 8, **bad}
        response = await client.post("/inspections", json=body)
        assert error_locs(assert_problem(response, 422)) == [loc], bad
