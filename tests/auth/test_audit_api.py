"""``GET /audit`` and ``GET /audit/verify`` (the shared ``client`` signs in as the admin)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from shopfloor.auth import audit
from shopfloor.auth.models import AuditEntry
from shopfloor.config import Settings
from shopfloor.core.clock import rfc3339, utcnow
from shopfloor.storage import Database


async def _seed(settings: Settings, events: list[tuple[str, str, str]]) -> None:
    """(actor, action, target) entries, one transaction each, through the log's own writer."""
    db = Database(settings.resolved_database_url)
    try:
        for actor, action, target in events:
            async with db.write() as session:
                audit.record(session, action=action, target=target, actor=actor, after={"x": 1})
    finally:
        await db.dispose()


async def _all(client: httpx.AsyncClient, **params: object) -> list[dict]:
    items, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/audit", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_entries_come_newest_first_page_by_page(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _seed(settings, [("bob", "test.event", f"thing/{n}") for n in range(25)])
    first = await client.get("/audit", params={"limit": 10, "action": "test.event"})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [item["target"] for item in page["items"]] == [f"thing/{n}" for n in range(24, 14, -1)]
    assert page["next_cursor"]
    everything = await _all(client, limit=10, action="test.event")
    assert [item["target"] for item in everything] == [f"thing/{n}" for n in range(24, -1, -1)]
    seqs = [item["seq"] for item in everything]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 25
    item = everything[0]
    assert item["actor"] == "bob" and item["after"] == {"x": 1} and len(item["hash"]) == 64
    assert item["at"].endswith(("Z", "+00:00"))


async def test_filters_by_actor_action_target_and_time(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    started = utcnow() - timedelta(seconds=1)
    await _seed(
        settings,
        [
            ("bob", "auth.login_failed", "user/bob"),
            ("bob", "auth.locked_out", "user/bob"),
            ("carol", "auth.login_failed", "user/carol"),
            ("carol", "test.other", "thing/1"),
        ],
    )

    def targets(items: list[dict]) -> list[tuple[str, str]]:
        return [(item["actor"], item["action"]) for item in items]

    assert targets(await _all(client, actor="carol")) == [
        ("carol", "test.other"),
        ("carol", "auth.login_failed"),
    ]
    assert targets(await _all(client, action="auth.login_failed")) == [
        ("carol", "auth.login_failed"),
        ("bob", "auth.login_failed"),
    ]
    assert len(await _all(client, action="auth.*")) == 3
    assert targets(await _all(client, target="user/b*")) == [
        ("bob", "auth.locked_out"),
        ("bob", "auth.login_failed"),
    ]
    assert len(await _all(client, action="auth.*", since=rfc3339(started))) == 3
    future = rfc3339(utcnow() + timedelta(hours=1))
    assert await _all(client, action="auth.*", since=future) == []
    assert await _all(client, action="auth.*", until=rfc3339(started)) == []


async def test_a_foreign_cursor_and_a_bad_time_are_client_errors(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/audit", params={"cursor": "not-a-cursor"})).status_code == 400
    assert (await client.get("/audit", params={"since": "yesterday"})).status_code == 422


async def test_verify_reports_an_intact_and_a_broken_chain(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _seed(settings, [("bob", "test.event", f"thing/{n}") for n in range(5)])
    intact = await client.get("/audit/verify")
    assert intact.status_code == 200, intact.text
    assert intact.json()["ok"] is True and intact.json()["checked"] >= 5

    seq = (await _all(client, action="test.event"))[2]["seq"]
    db = Database(settings.resolved_database_url)
    try:
        async with db.write() as session:
            table = AuditEntry.__table__
            await session.execute(update(table).where(table.c.seq == seq).values(actor="eve"))
    finally:
        await db.dispose()
    broken = (await client.get("/audit/verify")).json()
    assert broken["ok"] is False and broken["seq"] == seq
    assert broken["problem"].startswith(f"entry {seq} (id ") and "was altered" in broken["problem"]


async def test_an_api_change_is_recorded_with_who_made_it(client: httpx.AsyncClient) -> None:
    # Needs the auth middleware (it sets who is acting) and the hooks installed by create_app.
    created = await client.post("/assets", json={"path": "acme", "kind": "site"})
    assert created.status_code == 201, created.text
    asset_id = created.json()["id"]
    entries = await _all(client, action="asset.created", target=f"asset/{asset_id}")
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["actor"] == "admin"
    assert entry["operation"] == "POST /api/v1/assets"
    assert entry["after"]["path"] == "acme" and entry["before"] is None
