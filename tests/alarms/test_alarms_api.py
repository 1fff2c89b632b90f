"""Alarms through the API: listing and filters, every transition and every illegal one, notes,
assignment, concurrent acknowledges, and the events acknowledge and resolve publish."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.alarms.helpers import MACHINE, OIL, VIBRATION, alarm_events, insert_alarm
from tests.core.helpers import assert_problem, error_locs

ALARM_FIELDS = {
    "id",
    "sensor",
    "path",
    "rule",
    "kind",
    "severity",
    "state",
    "message",
    "value",
    "score",
    "count",
    "opened_at",
    "last_seen_at",
    "acknowledged_by",
    "acknowledged_at",
    "resolved_by",
    "resolved_at",
    "assignee",
    "notes",
}


async def listed(client, **params) -> list[int]:
    response = await client.get("/alarms", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_get_shows_the_alarm_as_the_contract_does(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL], rule="limits", severity="critical")
    response = await client.get(f"/alarms/{alarm_id}")
    assert response.status_code == 200, response.text
    alarm = response.json()
    assert alarm.keys() >= ALARM_FIELDS
    assert (alarm["id"], alarm["sensor"], alarm["path"]) == (alarm_id, plant[OIL], OIL)
    assert (alarm["rule"], alarm["severity"], alarm["state"]) == ("limits", "critical", "open")
    assert alarm["opened_at"].endswith("Z") and alarm["acknowledged_at"] is None
    assert alarm["notes"] == []


async def test_unknown_alarm_is_404_for_every_call(client, plant):
    for method, url, body in [
        ("GET", "/alarms/424242", None),
        ("GET", "/alarms/99999999999", None),
        ("POST", "/alarms/424242/acknowledge", {}),
        ("POST", "/alarms/424242/resolve", {}),
        ("POST", "/alarms/424242/assign", {"user": "kim"}),
        ("POST", "/alarms/424242/notes", {"text": "hello"}),
        ("POST", "/alarms/99999999999/acknowledge", {}),
    ]:
        response = await client.request(method, url, json=body)
        assert_problem(response, 404, "not-found")


async def test_list_is_newest_first_and_filters_by_state_and_severity(app, client, plant):
    opened = await insert_alarm(app, plant[OIL], severity="critical")
    acked = await insert_alarm(app, plant[OIL], state="acknowledged")
    resolved = await insert_alarm(app, plant[VIBRATION], state="resolved", severity="info")
    closed = await insert_alarm(app, plant[VIBRATION], state="closed", severity="critical")

    assert await listed(client) == [closed, resolved, acked, opened]
    assert await listed(client, state="open") == [opened]
    assert await listed(client, state=["open", "acknowledged"]) == [acked, opened]
    assert await listed(client, severity="critical") == [closed, opened]
    assert await listed(client, severity="critical", state="closed") == [closed]
    assert await listed(client, severity=["info", "warning"]) == [resolved, acked]


async def test_unknown_state_or_severity_is_422(client, plant):
    for params, name in [({"state": "snoozed"}, "state"), ({"severity": "urgent"}, "severity")]:
        response = await client.get("/alarms", params=params)
        assert ["query", name, 0] in error_locs(assert_problem(response, 422))


async def test_under_covers_the_path_and_its_subtree_only(app, client, plant):
    await client.post("/assets", json={"path": f"{MACHINE}0", "kind": "machine"})
    sibling = await client.post("/sensors", json={"path": f"{MACHINE}0/oil-temp"})
    assert sibling.status_code == 201, sibling.text
    oil = await insert_alarm(app, plant[OIL])
    vibration = await insert_alarm(app, plant[VIBRATION])
    other = await insert_alarm(app, sibling.json()["id"])

    assert await listed(client, under=MACHINE) == [vibration, oil]
    assert await listed(client, under=OIL) == [oil]
    assert await listed(client, under="acme") == [other, vibration, oil]
    assert await listed(client, under="acme/press-line/press") == []
    assert await listed(client, under="elsewhere") == []
    response = await client.get("/alarms", params={"under": "Acme//x"})
    assert ["query", "under"] in error_locs(assert_problem(response, 422))


async def test_list_pages_with_a_cursor(app, client, plant):
    ids = [await insert_alarm(app, plant[OIL]) for _ in range(7)]
    walked, cursor = [], None
    for _ in range(10):
        params = {"limit": 3, "state": "open", **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/alarms", params=params)).json()
        assert len(body["items"]) <= 3
        walked += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == sorted(ids, reverse=True)
    assert_problem(await client.get("/alarms", params={"cursor": "not a cursor!"}), 400)
    assert_problem(await client.get("/alarms", params={"limit": 0}), 422)


async def test_acknowledge_an_open_alarm_with_a_note(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL])
    response = await client.post(
        f"/alarms/{alarm_id}/acknowledge", json={"note": "on my way with a wrench"}
    )
    assert response.status_code == 200, response.text
    alarm = response.json()
    assert (alarm["state"], alarm["acknowledged_by"]) == ("acknowledged", "admin")
    assert alarm["acknowledged_at"].endswith("Z")
    assert [(n["author"], n["text"]) for n in alarm["notes"]] == [
        ("admin", "on my way with a wrench")
    ]
    assert (await client.get(f"/alarms/{alarm_id}")).json() == alarm

    [event] = await alarm_events(app, 1)
    assert event["event"] == "alarm.acknowledged"
    assert event["alarm"]["id"] == alarm_id and event["alarm"]["state"] == "acknowledged"
    assert event["alarm"]["path"] == OIL and event["at"] == alarm["acknowledged_at"]
    assert event["alarm"]["notes"][0]["text"] == "on my way with a wrench"


async def test_acknowledge_needs_no_body(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL])
    response = await client.post(f"/alarms/{alarm_id}/acknowledge")
    assert response.status_code == 200, response.text
    assert response.json()["notes"] == []


async def test_illegal_acknowledges_are_409_naming_the_state(app, client, plant):
    acked = await insert_alarm(app, plant[OIL], state="acknowledged")
    resolved = await insert_alarm(app, plant[OIL], state="resolved")
    closed = await insert_alarm(app, plant[VIBRATION], state="closed")
    for alarm_id, state in [(acked, "acknowledged"), (resolved, "resolved"), (closed, "closed")]:
        response = await client.post(f"/alarms/{alarm_id}/acknowledge", json={"note": "x"})
        problem = assert_problem(response, 409, "illegal-transition")
        assert f"is {state}" in problem["detail"]
        alarm = (await client.get(f"/alarms/{alarm_id}")).json()
        assert alarm["state"] == state and alarm["notes"] == []  # the note was not kept


async def test_resolve_from_open_and_from_acknowledged(app, client, plant):
    opened = await insert_alarm(app, plant[OIL])
    acked = await insert_alarm(app, plant[VIBRATION])
    assert (await client.post(f"/alarms/{acked}/acknowledge")).status_code == 200

    for alarm_id in (opened, acked):
        response = await client.post(f"/alarms/{alarm_id}/resolve", json={"note": "replaced"})
        assert response.status_code == 200, response.text
        alarm = response.json()
        assert (alarm["state"], alarm["resolved_by"], alarm["resolution"]) == (
            "resolved",
            "admin",
            "person",
        )
        assert alarm["resolved_at"].endswith("Z") and alarm["notes"][-1]["text"] == "replaced"

    events = await alarm_events(app, 3)
    assert [(e["event"], e["alarm"]["id"], e["alarm"]["state"]) for e in events] == [
        ("alarm.acknowledged", acked, "acknowledged"),
        ("alarm.resolved", opened, "resolved"),
        ("alarm.resolved", acked, "resolved"),
    ]


async def test_illegal_resolves_are_409(app, client, plant):
    resolved = await insert_alarm(app, plant[OIL])
    assert (await client.post(f"/alarms/{resolved}/resolve")).status_code == 200
    closed = await insert_alarm(app, plant[VIBRATION], state="closed")
    for alarm_id, state in [(resolved, "resolved"), (closed, "closed")]:
        problem = assert_problem(await client.post(f"/alarms/{alarm_id}/resolve"), 409)
        assert f"is {state}" in problem["detail"]
    # Nor can a resolved alarm be acknowledged afterwards.
    assert_problem(await client.post(f"/alarms/{resolved}/acknowledge"), 409)


async def test_assign_and_unassign(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL], state="resolved")
    response = await client.post(f"/alarms/{alarm_id}/assign", json={"user": "kim"})
    assert response.status_code == 200, response.text
    assert response.json()["assignee"] == "kim"
    assert response.json()["state"] == "resolved"
    response = await client.post(f"/alarms/{alarm_id}/assign", json={"user": None})
    assert response.status_code == 200 and response.json()["assignee"] is None


async def test_assign_checks_the_name_and_refuses_a_closed_alarm(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL])
    for body in ({"user": ""}, {"user": "   "}, {"user": "k" * 101}, {}, {"user": 7}):
        response = await client.post(f"/alarms/{alarm_id}/assign", json=body)
        assert ["user"] in error_locs(assert_problem(response, 422)), body
    assert (await client.get(f"/alarms/{alarm_id}")).json()["assignee"] is None

    closed = await insert_alarm(app, plant[VIBRATION], state="closed")
    response = await client.post(f"/alarms/{closed}/assign", json={"user": "kim"})
    assert "is closed" in assert_problem(response, 409, "illegal-transition")["detail"]


async def test_notes_in_any_state(app, client, plant):
    opened = await insert_alarm(app, plant[OIL])
    closed = await insert_alarm(app, plant[VIBRATION], state="closed")
    for alarm_id in (opened, closed):
        for text in ("first", "x" * 4000):
            response = await client.post(f"/alarms/{alarm_id}/notes", json={"text": text})
            assert response.status_code == 201, response.text
            note = response.json()
            assert (note["author"], note["text"]) == ("admin", text)
            assert note["created_at"].endswith("Z") and note["id"] > 0
        notes = (await client.get(f"/alarms/{alarm_id}")).json()["notes"]
        assert [n["text"] for n in notes] == ["first", "x" * 4000]
    listed_notes = (await client.get("/alarms", params={"state": "closed"})).json()["items"][0]
    assert len(listed_notes["notes"]) == 2


async def test_bad_notes_are_422(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL])
    for body in ({"text": ""}, {"text": " \n "}, {"text": "x" * 4001}, {}, {"text": "a", "b": 1}):
        assert_problem(await client.post(f"/alarms/{alarm_id}/notes", json=body), 422)
    response = await client.post(f"/alarms/{alarm_id}/acknowledge", json={"note": "x" * 4001})
    assert ["note"] in error_locs(assert_problem(response, 422))
    alarm = (await client.get(f"/alarms/{alarm_id}")).json()
    assert alarm["notes"] == [] and alarm["state"] == "open"


async def test_a_note_with_an_idempotency_key_is_added_once(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL])
    headers = {"Idempotency-Key": "note-1"}
    first = await client.post(f"/alarms/{alarm_id}/notes", json={"text": "a"}, headers=headers)
    again = await client.post(f"/alarms/{alarm_id}/notes", json={"text": "a"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert len((await client.get(f"/alarms/{alarm_id}")).json()["notes"]) == 1


async def test_concurrent_acknowledges_let_exactly_one_through(app, client, plant):
    alarm_ids = [await insert_alarm(app, plant[OIL]) for _ in range(5)]
    for alarm_id in alarm_ids:
        url = f"/alarms/{alarm_id}/acknowledge"
        responses = await asyncio.gather(
            client.post(url, json={"note": "mine"}), client.post(url, json={"note": "mine"})
        )
        assert Counter(r.status_code for r in responses) == {200: 1, 409: 1}
        [loser] = [r for r in responses if r.status_code == 409]
        assert_problem(loser, 409, "illegal-transition")
        alarm = (await client.get(f"/alarms/{alarm_id}")).json()
        assert alarm["state"] == "acknowledged" and len(alarm["notes"]) == 1

    events = await alarm_events(app, len(alarm_ids))
    assert sorted(e["alarm"]["id"] for e in events) == alarm_ids
    assert await alarm_events(app, 1, timeout_s=0.5) == []  # and no second event of any


async def test_concurrent_resolves_let_exactly_one_through(app, client, plant):
    alarm_id = await insert_alarm(app, plant[OIL])
    url = f"/alarms/{alarm_id}/resolve"
    responses = await asyncio.gather(*(client.post(url) for _ in range(4)))
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 3}
