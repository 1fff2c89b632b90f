"""Shelves (maintenance windows): create, list, end early, validation, and the matcher the
alarm stage uses to tell whether a sensor is shelved."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shopfloor.alarms import shelves
from shopfloor.alarms.models import Shelf
from shopfloor.core.clock import rfc3339, utcnow
from tests.alarms.helpers import MACHINE, OIL
from tests.core.helpers import assert_problem, error_locs

SHELF_FIELDS = {
    "id",
    "scope",
    "reason",
    "starts_at",
    "ends_at",
    "created_by",
    "created_at",
    "suppressed",
    "active",
}


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def shelve(client, **fields) -> dict:
    body = {"scope": MACHINE, "minutes": 60, "reason": "bearing replacement", **fields}
    response = await client.post("/shelves", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def listed(client, **params) -> list[int]:
    response = await client.get("/shelves", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_shelve_for_some_minutes(client, plant):
    before = utcnow()
    shelf = await shelve(client)
    assert shelf.keys() == SHELF_FIELDS
    assert (shelf["scope"], shelf["reason"], shelf["created_by"]) == (
        MACHINE,
        "bearing replacement",
        "admin",
    )
    assert (shelf["suppressed"], shelf["active"]) == (0, True)
    starts, ends = parse(shelf["starts_at"]), parse(shelf["ends_at"])
    assert before <= starts <= utcnow() and ends - starts == timedelta(minutes=60)
    assert (await client.get(f"/shelves/{shelf['id']}")).json() == shelf


async def test_shelve_until_a_time(client, plant):
    until = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    shelf = await shelve(client, scope=OIL, minutes=None, until=rfc3339(until))
    assert parse(shelf["ends_at"]) == until and shelf["scope"] == OIL
    # A time without an offset is UTC; one with an offset is converted.
    naive = until.replace(tzinfo=None).isoformat()
    assert parse((await shelve(client, minutes=None, until=naive))["ends_at"]) == until
    paris = until.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert paris.endswith("+02:00")
    assert parse((await shelve(client, minutes=None, until=paris))["ends_at"]) == until


async def test_invalid_shelves_are_422_naming_the_field(client, plant):
    past = rfc3339(utcnow() - timedelta(minutes=1))
    soon = rfc3339(utcnow() + timedelta(minutes=5))
    base = {"scope": MACHINE, "minutes": 10, "reason": "maintenance"}
    for changes, loc in [
        ({"scope": "acme/press-line/press-2"}, ["scope"]),  # well formed, but no such asset
        ({"scope": "Acme"}, ["scope"]),
        ({"scope": ""}, ["scope"]),
        ({"minutes": 0}, ["minutes"]),
        ({"minutes": 10081}, ["minutes"]),
        ({"minutes": None, "until": past}, ["until"]),
        ({"minutes": None, "until": "next tuesday"}, ["until"]),
        ({"until": soon}, []),  # both
        ({"minutes": None}, []),  # neither
        ({"reason": ""}, ["reason"]),
        ({"reason": "  "}, ["reason"]),
        ({"reason": "r" * 501}, ["reason"]),
        ({"reason": None}, ["reason"]),
        ({"colour": "red"}, ["colour"]),
    ]:
        response = await client.post("/shelves", json={**base, **changes})
        problem = assert_problem(response, 422)
        assert loc in error_locs(problem), changes
    assert await listed(client) == []


async def test_list_active_and_ended_shelves_newest_first(client, plant):
    first = await shelve(client)
    second = await shelve(client, scope=OIL)
    third = await shelve(client, scope="acme")
    ended = await client.delete(f"/shelves/{second['id']}")
    assert ended.status_code == 200, ended.text

    assert await listed(client) == [third["id"], second["id"], first["id"]]
    assert await listed(client, active="true") == [third["id"], first["id"]]
    assert await listed(client, active="false") == [second["id"]]
    assert_problem(await client.get("/shelves", params={"active": "maybe"}), 422)

    body = (await client.get("/shelves", params={"limit": 2})).json()
    assert [item["id"] for item in body["items"]] == [third["id"], second["id"]]
    rest = (await client.get("/shelves", params={"limit": 2, "cursor": body["next_cursor"]})).json()
    assert [item["id"] for item in rest["items"]] == [first["id"]] and rest["next_cursor"] is None


async def test_ending_a_shelf_keeps_its_record(client, plant):
    shelf = await shelve(client, minutes=120)
    response = await client.delete(f"/shelves/{shelf['id']}")
    assert response.status_code == 200, response.text
    ended = response.json()
    assert ended["active"] is False and ended["id"] == shelf["id"]
    assert parse(shelf["starts_at"]) <= parse(ended["ends_at"]) <= utcnow()
    assert (await client.get(f"/shelves/{shelf['id']}")).json() == ended
    # Ending it again changes nothing.
    again = await client.delete(f"/shelves/{shelf['id']}")
    assert again.status_code == 200 and again.json() == ended
    for method in ("GET", "DELETE"):
        assert_problem(await client.request(method, "/shelves/424242"), 404, "not-found")


async def test_idempotency_key_creates_one_shelf(client, plant):
    headers = {"Idempotency-Key": "shelf-1"}
    body = {"scope": MACHINE, "minutes": 30, "reason": "calibration"}
    first = await client.post("/shelves", json=body, headers=headers)
    again = await client.post("/shelves", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert await listed(client) == [first.json()["id"]]


def _shelf(scope: str, start: datetime, end: datetime, shelf_id: int = 1) -> Shelf:
    return Shelf(id=shelf_id, scope=scope, reason="r", starts_at=start, ends_at=end)


def test_matcher_covers_the_scope_and_its_subtree_while_in_force():
    now = utcnow()
    hour = timedelta(hours=1)
    machine = _shelf(MACHINE, now - hour, now + hour, 1)
    longer = _shelf("acme", now - hour, now + 2 * hour, 2)
    matcher = shelves.ShelfMatcher([machine])
    assert matcher.covering(OIL, now) is machine
    assert matcher.covering(MACHINE, now) is machine
    assert matcher.covering(f"{MACHINE}0/oil-temp", now) is None  # a sibling sharing a prefix
    assert matcher.covering("acme/press-line", now) is None
    assert matcher.covering(OIL, now + 2 * hour) is None  # over
    assert matcher.covering(OIL, now - 2 * hour) is None  # not begun
    assert shelves.ShelfMatcher([machine, longer]).covering(OIL, now) is longer
    assert not shelves.ShelfMatcher([]) and shelves.ShelfMatcher([]).covering(OIL) is None


async def test_active_shelf_for_and_suppressed_counts(app, client, plant):
    shelf = await shelve(client)
    await shelve(client, scope=OIL)
    ended = await shelve(client, scope="acme")
    await client.delete(f"/shelves/{ended['id']}")
    async with app.state.db.write() as session:
        found = await shelves.active_shelf_for(session, f"{MACHINE}/vibration")
        assert found is not None and found.id == shelf["id"]
        assert await shelves.active_shelf_for(session, "acme/press-line") is None
        assert len(await shelves.active_shelves(session)) == 2
        await shelves.count_suppressed(session, shelf["id"], 3)
        await shelves.count_suppressed(session, shelf["id"], 2)
    assert (await client.get(f"/shelves/{shelf['id']}")).json()["suppressed"] == 5
