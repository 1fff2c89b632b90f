"""The audit log's chain, and the session hooks that fill it: on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select, update

from shopfloor.auth import audit
from shopfloor.auth.audit_hooks import install_audit_hooks
from shopfloor.auth.context import Acting, acting_as
from shopfloor.auth.models import AuditEntry, User
from shopfloor.notify.models import Channel
from shopfloor.plant.models import Asset
from shopfloor.storage import Database

ALICE = Acting(actor="alice", source="10.0.0.7", request_id="req-1", operation="PATCH /x")
LOG = AuditEntry.__table__


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    install_audit_hooks()
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _fill(db: Database, count: int, per_commit: int = 10) -> None:
    for start in range(0, count, per_commit):
        async with db.write() as session:
            for n in range(start, min(count, start + per_commit)):
                audit.record(
                    session,
                    action="test.event",
                    target=f"thing/{n}",
                    after={"n": n, "ratio": n / 3, "big": 1e20, "label": "ünïcode"},
                )


async def _verify(db: Database, batch_size: int = 1000) -> audit.VerifyResult:
    async with db.read() as session:
        return await audit.verify(session, batch_size=batch_size)


async def _entries(db: Database) -> list[AuditEntry]:
    async with db.read() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())


async def _tamper(db: Database, statement) -> None:  # type: ignore[no-untyped-def]
    # Straight to the table, as someone with database access would, bypassing the log's code.
    async with db.write() as session:
        await session.execute(statement)


async def test_a_long_chain_verifies_batch_by_batch(db: Database) -> None:
    await _fill(db, 250, per_commit=50)
    assert await _verify(db, batch_size=32) == audit.VerifyResult(ok=True, checked=250)
    entries = await _entries(db)
    assert [e.seq for e in entries] == list(range(1, 251))
    assert entries[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[7].actor == "system" and entries[7].after["label"] == "ünïcode"


async def test_an_empty_log_is_intact(db: Database) -> None:
    assert await _verify(db) == audit.VerifyResult(ok=True, checked=0)


async def test_an_edited_entry_is_named(db: Database) -> None:
    await _fill(db, 40)
    await _tamper(db, update(LOG).where(LOG.c.seq == 17).values(after={"n": 999}))
    result = await _verify(db, batch_size=5)
    assert not result.ok and result.seq == 17 and result.checked == 16
    assert result.problem == "entry 17 (id 17) was altered: its hash does not match its content"


async def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(db: Database) -> None:
    await _fill(db, 20)
    entries = await _entries(db)
    forged = {c.name: getattr(entries[9], c.name) for c in LOG.columns}
    forged["actor"] = "mallory"
    await _tamper(
        db,
        update(LOG).where(LOG.c.seq == 10).values(actor="mallory", hash=audit.entry_hash(forged)),
    )
    result = await _verify(db)
    assert not result.ok and result.seq == 11
    assert result.problem.startswith("entry 11 (id 11) does not link to entry 10")


async def test_deleted_entries_in_the_middle_show_as_a_gap(db: Database) -> None:
    await _fill(db, 20)
    await _tamper(db, delete(LOG).where(LOG.c.seq.in_([5, 6])))
    result = await _verify(db, batch_size=3)
    assert (result.ok, result.seq, result.checked) == (False, 5, 4)
    assert result.problem == "entries 5\N{EN DASH}6 are missing"


async def test_a_deleted_last_entry_shows_at_the_head(db: Database) -> None:
    await _fill(db, 42)
    await _tamper(db, delete(LOG).where(LOG.c.seq >= 41))
    result = await _verify(db)
    assert not result.ok and result.seq == 41 and result.checked == 40
    assert result.problem == (
        "the chain ends at 40 but its head says 42: entries were removed from the end"
    )


async def test_concurrent_writers_keep_the_chain_consecutive(db: Database) -> None:
    async def writer(name: str) -> None:
        for n in range(8):
            with acting_as(Acting(actor=name)):
                async with db.write() as session:
                    session.add(Asset(path=f"{name}-{n}", kind="site", name=name, attributes={}))
                    audit.record(session, action="test.event", target=f"{name}/{n}")
                    await asyncio.sleep(0)

    await asyncio.gather(*(writer(f"w{i}") for i in range(8)))
    entries = await _entries(db)
    assert [e.seq for e in entries] == list(range(1, 129))
    assert await _verify(db, batch_size=50) == audit.VerifyResult(ok=True, checked=128)


async def test_asset_changes_are_recorded_with_before_and_after(db: Database) -> None:
    with acting_as(ALICE):
        async with db.write() as session:
            asset = Asset(path="acme", kind="site", name="Acme", attributes={"city": "Linz"})
            session.add(asset)
        async with db.write() as session:
            stored = await session.get(Asset, asset.id)
            stored.name, stored.attributes = "ACME", {"city": "Wels"}
        async with db.write() as session:
            await session.delete(await session.get(Asset, asset.id))
    created, updated, deleted = await _entries(db)
    target = f"asset/{asset.id}"
    assert (created.action, created.target, created.before) == ("asset.created", target, None)
    assert created.after["path"] == "acme" and created.after["attributes"] == {"city": "Linz"}
    assert (updated.action, updated.target) == ("asset.updated", target)
    assert updated.before == {"name": "Acme", "attributes": {"city": "Linz"}}
    assert updated.after == {"name": "ACME", "attributes": {"city": "Wels"}}
    assert (deleted.action, deleted.after, deleted.before["name"]) == (
        "asset.deleted",
        None,
        "ACME",
    )
    assert (created.actor, created.source, created.request_id, created.operation) == (
        "alice",
        "10.0.0.7",
        "req-1",
        "PATCH /x",
    )
    assert (await _verify(db)).ok


async def test_nothing_is_recorded_without_someone_acting(db: Database) -> None:
    async with db.write() as session:
        session.add(Asset(path="acme", kind="site", name="Acme", attributes={}))
    async with db.write() as session:
        (await session.scalars(select(Asset))).one().name = "ACME"
    assert await _entries(db) == []


async def test_a_rolled_back_change_leaves_no_entry(db: Database) -> None:
    with acting_as(ALICE), pytest.raises(RuntimeError):
        async with db.write() as session:
            session.add(Asset(path="acme", kind="site", name="Acme", attributes={}))
            await session.flush()
            raise RuntimeError("the request failed")
    with acting_as(ALICE):
        async with db.write() as session:
            kept = Asset(path="kept", kind="site", name="Kept", attributes={})
            session.add(kept)
            async with session.begin_nested() as savepoint:
                session.add(Asset(path="undone", kind="site", name="Undone", attributes={}))
                await session.flush()
                await savepoint.rollback()
    assert [(e.action, e.target) for e in await _entries(db)] == [
        ("asset.created", f"asset/{kept.id}")
    ]


async def test_bookkeeping_only_updates_are_skipped(db: Database) -> None:
    async with db.write() as session:
        user = User(username="bob", role="viewer", password_hash="$argon2id$secret")
        session.add(user)
    with acting_as(ALICE):
        async with db.write() as session:
            stored = await session.get(User, user.id)
            stored.last_login_at = stored.updated_at = stored.created_at
    assert await _entries(db) == []


async def test_secrets_are_redacted_but_their_changes_show(db: Database) -> None:
    with acting_as(ALICE):
        async with db.write() as session:
            user = User(username="bob", role="viewer", password_hash="$argon2id$first-hash")
            session.add(user)
        async with db.write() as session:
            (await session.get(User, user.id)).password_hash = "$argon2id$second-hash"
        async with db.write() as session:
            session.add(
                Channel(name="ops", kind="webhook", config={"url": "https://x", "secret": "s3"})
            )
    created, changed, channel = await _entries(db)
    assert created.after["password_hash"] == "***" and created.after["username"] == "bob"
    assert (changed.before, changed.after) == ({"password_hash": "***"}, {"password_hash": "***"})
    assert channel.after["config"] == {"url": "https://x", "secret": "***"}
    every_value = repr([(e.before, e.after) for e in await _entries(db)])
    assert "hash" not in every_value.replace("password_hash", "") and "s3" not in every_value


async def test_bulk_updates_and_deletes_are_recorded_row_by_row(db: Database) -> None:
    async with db.write() as session:
        session.add_all(
            [Asset(path=p, kind="site", name=p, attributes={}) for p in ("a", "b", "c")]
        )
    with acting_as(ALICE):
        async with db.write() as session:
            result = await session.execute(
                update(Asset)
                .where(Asset.path.in_(["a", "b"]))
                .values(kind="area")
                .execution_options(synchronize_session=False)
            )
            assert result.rowcount == 2  # what callers rely on is left as it was
        async with db.write() as session:
            await session.execute(delete(Asset).where(Asset.path == "c"))
    entries = await _entries(db)
    assert [(e.action, e.before, e.after) for e in entries[:2]] == [
        ("asset.updated", {"kind": "site"}, {"kind": "area"}),
        ("asset.updated", {"kind": "site"}, {"kind": "area"}),
    ]
    assert entries[2].action == "asset.deleted" and entries[2].before["path"] == "c"
    assert len(entries) == 3 and (await _verify(db)).ok


async def test_record_takes_an_explicit_actor_and_writes_at_commit(db: Database) -> None:
    async with db.write() as session:
        audit.record(session, action="auth.login_failed", target="user/bob", actor="bob")
        assert await _entries(db) == []  # not before the commit
    with acting_as(ALICE):
        async with db.write() as session:
            audit.record(session, action="auth.locked_out", target="user/bob", after={"n": 5})
    failed, locked = await _entries(db)
    assert (failed.actor, failed.source, failed.action) == ("bob", None, "auth.login_failed")
    assert (locked.actor, locked.source, locked.after) == ("alice", "10.0.0.7", {"n": 5})


async def test_a_bulk_statement_over_many_rows_is_one_summary_entry(db: Database) -> None:
    async with db.write() as session:
        session.add_all(
            [Asset(path=f"a{n}", kind="site", name="a", attributes={}) for n in range(501)]
        )
    with acting_as(ALICE):
        async with db.write() as session:
            await session.execute(update(Asset).where(Asset.kind == "site").values(kind="area"))
    (entry,) = await _entries(db)
    assert (entry.action, entry.target) == ("asset.bulk_update", "asset/*")
    assert entry.before == {"where": "assets.kind = 'site'"} and entry.after == {"rows": 501}
