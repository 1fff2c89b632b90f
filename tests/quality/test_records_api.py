"""Parts, characteristics, lots and the defect catalogue through the API."""

from __future__ import annotations

from tests.core.helpers import assert_problem, error_locs


async def create(client, url: str, body: dict, status: int = 201) -> dict:
    response = await client.post(url, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def test_parts_are_created_read_listed_and_changed(client):
    part = await create(client, "/parts", {"part_number": "BRK-1", "name": "Bracket"})
    assert part["aql"] == 1.0 and part["revision"] is None
    assert part.keys() >= {"id", "part_number", "name", "revision", "aql", "created_at"}
    assert (await client.get(f"/parts/{part['id']}")).json() == part

    response = await client.patch(f"/parts/{part['id']}", json={"aql": 0.65, "revision": "B"})
    assert response.status_code == 200, response.text
    assert (response.json()["aql"], response.json()["revision"]) == (0.65, "B")
    assert response.json()["name"] == "Bracket"

    assert_problem(await client.get("/parts/424242"), 404, "not-found")
    assert_problem(await client.patch("/parts/424242", json={"name": "x"}), 404)


async def test_a_part_number_is_unique(client):
    await create(client, "/parts", {"part_number": "BRK-1", "name": "Bracket"})
    response = await client.post("/parts", json={"part_number": "BRK-1", "name": "Other"})
    assert_problem(response, 409, "already-exists")


async def test_the_aql_must_be_one_of_the_standard(client):
    response = await client.post("/parts", json={"part_number": "P", "name": "P", "aql": 0.7})
    body = assert_problem(response, 422, "validation-error")
    assert error_locs(body) == [["aql"]]
    assert "0.65" in body["errors"][0]["msg"]
    part = await create(client, "/parts", {"part_number": "P", "name": "P", "aql": 2.5})
    assert_problem(await client.patch(f"/parts/{part['id']}", json={"aql": 3}), 422)


async def test_lists_are_pages_with_cursors(client):
    for i in range(5):
        await create(client, "/parts", {"part_number": f"P-{i}", "name": f"Part {i}"})
    first = (await client.get("/parts", params={"limit": 2})).json()
    assert [p["part_number"] for p in first["items"]] == ["P-0", "P-1"]
    second = (
        await client.get("/parts", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    third = (
        await client.get("/parts", params={"limit": 2, "cursor": second["next_cursor"]})
    ).json()
    assert [p["part_number"] for p in second["items"] + third["items"]] == ["P-2", "P-3", "P-4"]
    assert third["next_cursor"] is None
    assert_problem(await client.get("/parts", params={"cursor": "garbage!"}), 400)


async def test_characteristics_hold_a_specification_that_holds_together(client):
    part = await create(client, "/parts", {"part_number": "SH-1", "name": "Shaft"})
    body = {"part_id": part["id"], "name": "diameter", "unit": "mm", "lsl": 9.9, "usl": 10.1}
    diameter = await create(client, "/characteristics", {**body, "target": 10.0})
    assert (diameter["kind"], diameter["target"]) == ("variable", 10.0)

    for bad, loc in [
        ({"lsl": 10.1, "usl": 9.9}, ["usl"]),
        ({"lsl": 5.0, "usl": 5.0}, ["usl"]),
        ({"target": 11.0}, ["target"]),
        ({"kind": "colour"}, ["kind"]),
    ]:
        response = await client.post("/characteristics", json={**body, "name": "x", **bad})
        assert error_locs(assert_problem(response, 422)) == [loc], bad
    response = await client.post("/characteristics", json={**body, "part_id": 424242})
    assert error_locs(assert_problem(response, 422)) == [["part_id"]]
    # The name is unique within its part, not across parts.
    assert_problem(await client.post("/characteristics", json=body), 409, "already-exists")
    other = await create(client, "/parts", {"part_number": "SH-2", "name": "Shaft 2"})
    await create(client, "/characteristics", {**body, "part_id": other["id"]})


async def test_a_characteristic_change_is_checked_with_what_it_keeps(client):
    part = await create(client, "/parts", {"part_number": "SH-1", "name": "Shaft"})
    spec = {"part_id": part["id"], "name": "length", "lsl": 99.0, "usl": 101.0, "target": 100}
    length = await create(client, "/characteristics", spec)
    url = f"/characteristics/{length['id']}"

    assert error_locs(assert_problem(await client.patch(url, json={"lsl": 102}), 422)) == [
        ["usl"],
        ["target"],
    ]
    response = await client.patch(url, json={"usl": 105.0, "target": None, "unit": "mm"})
    assert response.status_code == 200, response.text
    assert (response.json()["usl"], response.json()["target"]) == (105.0, None)
    assert (response.json()["lsl"], response.json()["unit"]) == (99.0, "mm")
    assert (await client.get(url)).json() == response.json()


async def test_characteristics_are_listed_by_part(client):
    a = await create(client, "/parts", {"part_number": "A", "name": "A"})
    b = await create(client, "/parts", {"part_number": "B", "name": "B"})
    for part, name in [(a, "x"), (b, "y"), (a, "z")]:
        await create(client, "/characteristics", {"part_id": part["id"], "name": name})
    listed = (await client.get("/characteristics", params={"part_id": a["id"]})).json()
    assert [c["name"] for c in listed["items"]] == ["x", "z"]
    assert len((await client.get("/characteristics")).json()["items"]) == 3
    assert_problem(await client.get("/characteristics/424242"), 404)


async def test_lots_belong_to_a_part_and_a_line(client):
    part = await create(client, "/parts", {"part_number": "A", "name": "A"})
    lots = {}
    for number, line in [
        ("L1", "acme/line-1/press"),
        ("L2", "acme/line-1/weld"),
        ("L3", "acme/line-2"),
        ("L4", None),
    ]:
        body = {"lot_number": number, "part_id": part["id"], "quantity": 500, "line": line}
        lots[number] = await create(client, "/lots", body)
    assert lots["L1"]["line"] == "acme/line-1/press" and lots["L4"]["line"] is None
    assert (await client.get(f"/lots/{lots['L2']['id']}")).json() == lots["L2"]

    under = (await client.get("/lots", params={"under": "acme/line-1"})).json()["items"]
    assert [lot["lot_number"] for lot in under] == ["L1", "L2"]
    listed = (await client.get("/lots", params={"part_id": part["id"]})).json()["items"]
    assert len(listed) == 4
    assert_problem(await client.get("/lots", params={"under": "Not A Path"}), 422)
    assert_problem(await client.get("/lots/424242"), 404)


async def test_bad_lots_are_refused(client):
    part = await create(client, "/parts", {"part_number": "A", "name": "A"})
    lot = {"lot_number": "L1", "part_id": part["id"], "quantity": 10}
    for bad, loc in [
        ({"quantity": 0}, ["quantity"]),
        ({"line": "Acme/Line 1"}, ["line"]),
        ({"part_id": 424242}, ["part_id"]),
    ]:
        response = await client.post("/lots", json={**lot, **bad})
        assert error_locs(assert_problem(response, 422)) == [loc], bad
    await create(client, "/lots", lot)
    assert_problem(await client.post("/lots", json=lot), 409, "already-exists")


async def test_the_defect_catalogue(client):
    crack = await create(
        client,
        "/defect-types",
        {"code": "crack", "name": "Crack", "default_severity": "critical"},
    )
    assert (crack["code"], crack["name"], crack["default_severity"]) == (
        "crack",
        "Crack",
        "critical",
    )
    burr = await create(client, "/defect-types", {"code": "burr"})
    assert (burr["name"], burr["default_severity"]) == ("burr", "minor")
    assert_problem(await client.post("/defect-types", json={"code": "crack"}), 409)
    assert_problem(await client.post("/defect-types", json={"code": "no spaces"}), 422)
    listed = (await client.get("/defect-types")).json()["items"]
    assert [item["code"] for item in listed] == ["crack", "burr"]


async def test_creates_honour_the_idempotency_key(client):
    headers = {"Idempotency-Key": "part-brk-1"}
    body = {"part_number": "BRK-1", "name": "Bracket"}
    first = await client.post("/parts", json=body, headers=headers)
    again = await client.post("/parts", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert len((await client.get("/parts")).json()["items"]) == 1

    lot = {"lot_number": "L1", "part_id": first.json()["id"], "quantity": 5}
    lot_headers = {"Idempotency-Key": "lot-l1"}
    made = await client.post("/lots", json=lot, headers=lot_headers)
    replay = await client.post("/lots", json=lot, headers=lot_headers)
    assert replay.json() == made.json() and replay.headers.get("idempotent-replayed") == "true"
    other = await client.post("/lots", json={**lot, "quantity": 6}, headers=lot_headers)
    assert_problem(other, 422, "idempotency-key-reused")
