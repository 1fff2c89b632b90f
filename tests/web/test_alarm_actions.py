"""The alarms page without a browser, against the app in process (SQLite and PostgreSQL).

What a browser cannot easily show: the list filters exactly as ``GET /api/v1/alarms`` does, an
action the alarm's state no longer allows is answered in place, actions publish and audit as
the API's do, roles are enforced on the routes (not only by hiding buttons), and the live feed
reports what changed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import update

from shopfloor.alarms.models import Alarm
from shopfloor.auth.principal import Principal
from shopfloor.core.clock import to_epoch_us, utcnow
from shopfloor.core.pagination import encode_cursor
from shopfloor.web.alarm_views.feed import SUMMARY_KEY, AlarmFeed
from shopfloor.web.alarm_views.filters import AlarmFilters
from shopfloor.web.alarm_views.live import NEW_EVENT, ListView
from shopfloor.web.pages import alarms as alarms_page
from tests.alarms.helpers import MACHINE, OIL, VIBRATION, alarm_events, insert_alarm

BASE = "http://test"
PASSWORD = "gantry crane lubricant 2718"
HTMX = {"HX-Request": "true", "Origin": BASE}
Dashboard = Callable[[str], Awaitable[httpx.AsyncClient]]
# What depends on the database's dialect (the list's and the feed's queries, the transitions) runs
# on both; the rest of the page's behaviour once.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def alarm_ids(html: str) -> list[int]:
    return [
        int(found) for found in re.findall(r'<tr id="alarm-\d+-row"[^>]* data-alarm="(\d+)"', html)
    ]


@pytest.fixture
async def dashboard_as(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[Dashboard]:
    """Signs a new user of a role in to the dashboard; returns their cookie-keeping client."""
    async with AsyncExitStack() as stack:

        async def sign_in(role: str) -> httpx.AsyncClient:
            name = role.replace("_", "-")
            user = {"username": name, "password": PASSWORD, "role": role}
            assert (await client.post("/users", json=user)).status_code == 201
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            browser = httpx.AsyncClient(transport=transport, base_url=BASE)
            await stack.enter_async_context(browser)
            login = await browser.get("/login")
            form = {"username": name, "password": PASSWORD, "csrf_token": form_token(login.text)}
            signed = await browser.post("/login", data=form, headers={"Origin": BASE})
            assert signed.status_code == 303, signed.text
            return browser

        yield sign_in


async def act(browser: httpx.AsyncClient, path: str, **form: str) -> httpx.Response:
    """An htmx post, with the token the page gives its scripts."""
    page = await browser.get("/alarms")
    headers = {**HTMX, "x-csrf-token": form_token(page.text)}
    return await browser.post(path, data=form, headers=headers)


async def test_acknowledging_answers_with_the_row_publishes_and_audits_as_the_api(
    app: FastAPI, client: httpx.AsyncClient, plant: dict[str, int], dashboard_as: Dashboard
) -> None:
    alarm_id = await insert_alarm(app, plant[OIL])
    operator = await dashboard_as("operator")

    row = await act(operator, f"/alarms/{alarm_id}/acknowledge")
    assert row.status_code == 200, row.text
    assert row.text.lstrip().startswith(f'<tr id="alarm-{alarm_id}-row"')
    assert 'data-state="acknowledged"' in row.text and "Acknowledged." in row.text
    assert ">Acknowledge</button>" not in row.text

    alarm = (await client.get(f"/alarms/{alarm_id}")).json()
    assert (alarm["state"], alarm["acknowledged_by"]) == ("acknowledged", "operator")
    [event] = await alarm_events(app, 1)
    assert (event["event"], event["alarm"]["id"]) == ("alarm.acknowledged", alarm_id)
    audit = (await client.get("/audit", params={"actor": "operator"})).json()["items"]
    changes = [entry for entry in audit if entry["target"] == f"alarm/{alarm_id}"]
    assert changes and changes[0]["after"]["state"] == "acknowledged"
    assert changes[0]["operation"] == f"POST /alarms/{alarm_id}/acknowledge"

    for missing in (424242, 99999999999):  # and one no id column could hold
        response = await act(operator, f"/alarms/{missing}/acknowledge")
        assert response.status_code == 404 and "does not exist" in response.text
        assert (await operator.get(f"/alarms/{missing}")).status_code == 404
    huge_cursor = await operator.get("/alarms", params={"cursor": encode_cursor(99999999999)})
    assert "That page link is not one this list made" in huge_cursor.text

    again = await act(operator, f"/alarms/{alarm_id}/acknowledge")
    assert again.status_code == 200
    assert 'role="alert"' in again.text
    assert (
        f"Not acknowledged: alarm {alarm_id} is acknowledged; only an alarm that is open can be "
        "acknowledged." in again.text
    )


@SQLITE_ONLY
async def test_notes_and_assignment_answer_in_the_detail_with_the_row_out_of_band(
    app: FastAPI, client: httpx.AsyncClient, plant: dict[str, int], dashboard_as: Dashboard
) -> None:
    alarm_id = await insert_alarm(app, plant[OIL])
    engineer = await dashboard_as("maintenance_engineer")

    empty = await act(engineer, f"/alarms/{alarm_id}/notes", text="   ", place="detail")
    assert "Note not added: the note is empty." in empty.text
    long = await act(engineer, f"/alarms/{alarm_id}/notes", text="x" * 4001, place="detail")
    assert "the note is too long (at most 4000 characters)" in long.text
    assert "x" * 4001 in long.text  # what was typed is kept to be shortened

    added = await act(engineer, f"/alarms/{alarm_id}/notes", text="seal replaced", place="detail")
    assert "Note added." in added.text
    assert f'<tr id="alarm-{alarm_id}-row"' in added.text and 'hx-swap-oob="true"' in added.text
    assert "1 note" in added.text and "seal replaced" in added.text

    assigned = await act(engineer, f"/alarms/{alarm_id}/assign", user="maintenance-engineer")
    assert "Assigned to maintenance-engineer." in assigned.text
    assert (await client.get(f"/alarms/{alarm_id}")).json()["assignee"] == "maintenance-engineer"
    cleared = await act(engineer, f"/alarms/{alarm_id}/assign", user="")
    assert "No one is assigned now." in cleared.text
    alarm = (await client.get(f"/alarms/{alarm_id}")).json()
    assert alarm["assignee"] is None
    assert [(n["author"], n["text"]) for n in alarm["notes"]] == [
        ("maintenance-engineer", "seal replaced")
    ]


@SQLITE_ONLY
async def test_routes_refuse_what_a_role_may_not_do_and_pages_show_no_such_control(
    app: FastAPI, plant: dict[str, int], dashboard_as: Dashboard
) -> None:
    alarm_id = await insert_alarm(app, plant[OIL])
    viewer = await dashboard_as("viewer")
    operator = await dashboard_as("operator")

    for browser, path in [
        (viewer, f"/alarms/{alarm_id}/acknowledge"),
        (viewer, f"/alarms/{alarm_id}/notes"),
        (operator, f"/alarms/{alarm_id}/resolve"),
        (operator, f"/alarms/{alarm_id}/assign"),
    ]:
        response = await act(browser, path, text="x", user="x")
        assert response.status_code == 403, (path, response.text)

    seen_by_viewer = (await viewer.get(f"/alarms/{alarm_id}")).text
    assert "<textarea" not in seen_by_viewer and "<select" not in seen_by_viewer
    assert re.findall(r'<form method="post" action="([^"]+)"', seen_by_viewer) == ["/logout"]
    seen_by_operator = (await operator.get(f"/alarms/{alarm_id}")).text
    actions = set(re.findall(r'<form [^>]*action="([^"]+)"', seen_by_operator))
    assert actions == {"/logout", f"/alarms/{alarm_id}/acknowledge", f"/alarms/{alarm_id}/notes"}


async def test_the_list_filters_as_the_api_does(
    app: FastAPI, client: httpx.AsyncClient, plant: dict[str, int], dashboard_as: Dashboard
) -> None:
    critical = await insert_alarm(app, plant[OIL], severity="critical")
    await insert_alarm(app, plant[VIBRATION], state="acknowledged")
    await insert_alarm(app, plant[VIBRATION], state="closed", severity="info")
    spc, asset = await insert_subject_alarms(app, client)
    viewer = await dashboard_as("viewer")

    for params in [
        {},
        {"state": "open"},
        {"state": ["open", "acknowledged"], "severity": "critical"},
        {"severity": ["info", "warning"]},
        {"under": "acme/press-line"},
        {"under": MACHINE},
        {"under": OIL},
        {"under": "elsewhere"},
    ]:
        api = (await client.get("/alarms", params=params)).json()["items"]
        page = await viewer.get("/alarms", params=params)
        assert page.status_code == 200
        assert alarm_ids(page.text) == [item["id"] for item in api], params

    listed = (await viewer.get("/alarms")).text
    assert alarm_ids(listed)[:2] == [asset, spc]
    assert "bore diameter" in listed and "of part P-100" in listed
    assert 'href="/#asset-' in listed and f'href="/sensors/{plant[OIL]}"' in listed
    assert re.search(r'href="/quality/characteristics/\d+">bore diameter</a>', listed)
    assert critical in alarm_ids(listed)


async def insert_subject_alarms(app: FastAPI, client: httpx.AsyncClient) -> tuple[int, int]:
    """An SPC alarm filed under the line and a failure-risk alarm on the machine."""
    part = await client.post("/parts", json={"part_number": "P-100", "name": "housing"})
    characteristic = await client.post(
        "/characteristics",
        json={"part_id": part.json()["id"], "name": "bore diameter", "lsl": 9.9, "usl": 10.1},
    )
    assert characteristic.status_code == 201, characteristic.text
    [machine] = (await client.get("/assets", params={"under": MACHINE})).json()["items"]
    now = utcnow()
    common: dict[str, Any] = {
        "severity": "warning",
        "state": "open",
        "value": 10.2,
        "count": 1,
        "opened_at": now,
        "last_seen_at": now,
        "last_reading_us": to_epoch_us(now),
        "escalation_level": 0,
    }
    async with app.state.db.write() as session:
        spc = Alarm(
            characteristic_id=characteristic.json()["id"],
            subject_path="acme/press-line",
            rule="spc:WE1",
            kind="spc",
            message="a point beyond the control limits",
            **common,
        )
        risk = Alarm(
            asset_id=machine["id"],
            subject_path=MACHINE,
            rule="failure_risk",
            kind="failure_risk",
            message="failure risk 0.82 is over 0.5",
            **common,
        )
        session.add(spc)
        await session.flush()
        session.add(risk)
        await session.flush()
        return spc.id, risk.id


@SQLITE_ONLY
async def test_a_bad_filter_or_page_link_is_named_and_left_out(
    app: FastAPI, plant: dict[str, int], dashboard_as: Dashboard
) -> None:
    alarm_id = await insert_alarm(app, plant[OIL])
    viewer = await dashboard_as("viewer")
    params = {"state": ["snoozed", "open"], "under": "Acme//x", "cursor": "not a cursor!"}
    page = await viewer.get("/alarms", params=params)
    assert page.status_code == 200
    assert "The state &#39;snoozed&#39; was ignored" in page.text
    assert "The path &#39;Acme//x&#39; was ignored" in page.text
    assert "That page link is not one this list made" in page.text
    assert alarm_ids(page.text) == [alarm_id]
    assert 'name="state" value="open" checked' in page.text


@SQLITE_ONLY
async def test_the_list_pages_with_a_cursor_and_keeps_its_filters(
    app: FastAPI,
    plant: dict[str, int],
    dashboard_as: Dashboard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(alarms_page, "PAGE_SIZE", 2)
    ids = [await insert_alarm(app, plant[OIL], state="closed") for _ in range(3)]
    await insert_alarm(app, plant[VIBRATION])
    viewer = await dashboard_as("viewer")
    first = await viewer.get("/alarms", params={"state": "closed"})
    assert alarm_ids(first.text) == [ids[2], ids[1]]
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older, "no link to older alarms"
    link = older.group(1).replace("&amp;", "&")
    assert link.startswith("/alarms?state=closed&cursor=")
    second = await viewer.get(link)
    assert alarm_ids(second.text) == [ids[0]]
    assert 'rel="next"' not in second.text and ">Newest alarms</a>" in second.text


async def test_the_feed_reports_new_changed_and_closed_alarms_once(
    app: FastAPI, plant: dict[str, int]
) -> None:
    first = await insert_alarm(app, plant[OIL])
    feed = AlarmFeed(newest=2)  # closed alarms are watched while among the two newest
    db, topics = app.state.db, frozenset({"alarms"})
    initial = await feed.poll(db, topics)
    assert {event.key for event in initial} == {f"alarm:{first}", SUMMARY_KEY}
    assert await feed.poll(db, topics) == []

    second = await insert_alarm(app, plant[VIBRATION], severity="critical")
    async with db.write() as session:
        await session.execute(update(Alarm).where(Alarm.id == first).values(count=2))
    changed = {event.key: event.data for event in await feed.poll(db, topics)}
    assert set(changed) == {f"alarm:{first}", f"alarm:{second}", SUMMARY_KEY}
    assert changed[f"alarm:{first}"].count == 2
    assert changed[SUMMARY_KEY].open_by_severity() == [("critical", 1), ("warning", 1)]

    # Closed, and no longer among the newest: reported once as closed, then no more.
    for _ in range(2):
        await insert_alarm(app, plant[VIBRATION], state="closed")
    async with db.write() as session:
        await session.execute(update(Alarm).where(Alarm.id == first).values(state="closed"))
    closing = {event.key: event.data for event in await feed.poll(db, topics)}
    assert closing[f"alarm:{first}"].state == "closed"
    assert f"alarm:{first}" not in {event.key for event in await feed.poll(db, topics)}


@SQLITE_ONLY
async def test_a_page_is_sent_new_alarms_that_match_its_filters_only(
    app: FastAPI, plant: dict[str, int]
) -> None:
    shown = await insert_alarm(app, plant[OIL])
    feed = AlarmFeed()
    await feed.poll(app.state.db, frozenset({"alarms"}))
    view = ListView(
        viewer_request(app),
        AlarmFilters.read([], ["critical"], MACHINE),
        oldest=shown,
        newest=shown,
        top=True,
    )
    warning = await insert_alarm(app, plant[OIL], severity="warning")
    critical = await insert_alarm(app, plant[VIBRATION], severity="critical")
    async with app.state.db.write() as session:
        await session.execute(update(Alarm).where(Alarm.id == shown).values(count=5))
    sent = [m for e in await feed.poll(app.state.db, frozenset({"alarms"})) for m in view.render(e)]
    names = [message.event for message in sent]
    assert names.count(NEW_EVENT) == 1 and f"alarm-{warning}" not in names
    new = next(m for m in sent if m.event == NEW_EVENT)
    assert f'id="alarm-{critical}"' in str(new.raw_data)
    assert f"alarm-{shown}" in names and f"alarm-{shown}-record" in names
    assert "alarm-summary" in names


def viewer_request(app: FastAPI) -> Request:
    scope = {
        "type": "http",
        "app": app,
        "method": "GET",
        "path": "/live/alarms",
        "query_string": b"",
        "headers": [],
        "state": {},
    }
    request = Request(scope)
    request.state.principal = Principal(kind="user", id=1, name="admin", role="viewer")
    return request
