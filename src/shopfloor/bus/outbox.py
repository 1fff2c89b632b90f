"""The transactional outbox: events are written in the same transaction as the data they
describe, and a relay publishes them to the bus after the commit.

The process that committed hands its events to the relay in memory, so the common case never
reads the outbox back; the rows are deleted in bulk once published. Rows a crashed process
left behind (committed, never published) are found by a slower poll and published then. A
crash between publish and delete publishes again under the same envelope ids, which the
consumers (at-least-once, idempotent) recognise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import structlog
from sqlalchemy import Float, Integer, LargeBinary, String, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.bus.base import Bus
from shopfloor.bus.message import Envelope
from shopfloor.storage import Database
from shopfloor.storage.base import Base, JsonDocument

log = structlog.get_logger("shopfloor.outbox")


class OutboxRow(Base):
    __tablename__ = "outbox"
    # Ids are never reused (AUTOINCREMENT on SQLite): envelope ids are derived from them.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    # Bulk events (a batch of readings) travel as packed arrays, cheap to write on ingest.
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


async def add(
    session: AsyncSession,
    topic: str,
    key: str,
    payload: dict[str, Any] | None = None,
    blob: bytes | None = None,
) -> int:
    """Record an event in the caller's transaction; returns its outbox id."""
    result = await session.execute(
        insert(OutboxRow)
        .values(topic=topic, key=key, payload=payload, blob=blob, created_at=time.time())
        .returning(OutboxRow.id)
    )
    return int(result.scalar_one())


async def add_many(
    session: AsyncSession, topic: str, events: list[tuple[str, dict[str, Any]]]
) -> list[tuple[int, float]]:
    """Record several (key, payload) events in one statement; their (outbox id, created_at)."""
    if not events:
        return []
    now = time.time()
    rows = [{"topic": topic, "key": k, "payload": p, "created_at": now} for k, p in events]
    result = await session.execute(
        insert(OutboxRow).returning(OutboxRow.id, sort_by_parameter_order=True), rows
    )
    return [(int(row_id), now) for row_id in result.scalars()]


Expander = Callable[[AsyncSession, OutboxRow], Awaitable[list[Envelope]]]
Build = Callable[[], list[Envelope]]


def plain_envelopes(row: OutboxRow) -> list[Envelope]:
    return [
        Envelope(
            topic=row.topic,
            key=row.key,
            payload=row.payload or {},
            id=f"outbox-{row.id}",
            created_at=row.created_at,
        )
    ]


class OutboxRelay:
    """Publishes outbox events after their commit and deletes the rows once published."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        expanders: dict[str, Expander] | None = None,
        *,
        recover_every_s: float = 5.0,
        recover_after_s: float = 10.0,
        sweep_every_s: float = 1.0,
        batch_rows: int = 200,
    ) -> None:
        self.db = db
        self.bus = bus
        self.expanders = expanders or {}
        self.recover_every_s = recover_every_s
        self.recover_after_s = recover_after_s
        self.sweep_every_s = sweep_every_s
        self.batch_rows = batch_rows
        self._offered: list[tuple[int, Build]] = []
        self._published: list[int] = []
        self._wake = asyncio.Event()

    def offer(self, row_id: int, build: Build) -> None:
        """An event this process just committed, with how to build its envelopes."""
        self._offered.append((row_id, build))
        self._wake.set()

    async def run(self) -> None:
        next_sweep = next_recovery = time.monotonic()
        backoff = 0.1
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.sweep_every_s)
            self._wake.clear()
            try:
                await self.publish_offered()
                now = time.monotonic()
                if now >= next_sweep:
                    await self.sweep()
                    next_sweep = now + self.sweep_every_s
                if now >= next_recovery:
                    while await self.recover() == self.batch_rows:
                        pass
                    next_recovery = now + self.recover_every_s
                backoff = 0.1
            except Exception as exc:
                # The bus or the database is away: the rows stay, and are tried again.
                log.warning("outbox relay failed; retrying", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def publish_offered(self) -> int:
        offered, self._offered = self._offered, []
        if not offered:
            return 0
        try:
            envelopes = [envelope for _, build in offered for envelope in build()]
            await self.bus.publish(envelopes)
        except BaseException:
            self._offered = offered + self._offered
            raise
        self._published.extend(row_id for row_id, _ in offered)
        return len(offered)

    async def sweep(self) -> None:
        """Delete the rows already published, in one short transaction."""
        published, self._published = self._published, []
        if not published:
            return
        try:
            async with self.db.write() as session:
                for start in range(0, len(published), 500):
                    chunk = published[start : start + 500]
                    await session.execute(delete(OutboxRow).where(OutboxRow.id.in_(chunk)))
        except BaseException:
            self._published = published + self._published
            raise

    async def recover(self) -> int:
        """Publish rows committed a while ago and never published (their process died)."""
        in_hand = {row_id for row_id, _ in self._offered} | set(self._published)
        cutoff = time.time() - self.recover_after_s
        async with self.db.read() as session:
            query = (
                select(OutboxRow)
                .where(OutboxRow.created_at < cutoff)
                .order_by(OutboxRow.id)
                .limit(self.batch_rows)
            )
            rows = [row for row in (await session.scalars(query)).all() if row.id not in in_hand]
            envelopes: list[Envelope] = []
            for row in rows:
                expand = self.expanders.get(row.topic)
                envelopes.extend(await expand(session, row) if expand else plain_envelopes(row))
        if rows:
            await self.bus.publish(envelopes)
            self._published.extend(row.id for row in rows)
            log.info("outbox rows recovered", rows=len(rows))
        return len(rows)
