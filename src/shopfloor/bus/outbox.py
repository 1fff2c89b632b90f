"""The transactional outbox: events are written in the same transaction as the data they
describe, and a relay publishes them to the bus after the commit.

A crash between commit and publish loses nothing: the rows are still there at the next start.
A crash between publish and delete publishes them again under the same envelope ids, which the
consumers (at-least-once, idempotent) recognise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
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
) -> None:
    """Record an event in the caller's transaction."""
    await session.execute(
        insert(OutboxRow).values(
            topic=topic, key=key, payload=payload, blob=blob, created_at=time.time()
        )
    )


Expander = Callable[[AsyncSession, OutboxRow], Awaitable[list[Envelope]]]


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
    """Publishes outbox rows in commit order, then deletes them.

    Woken by ``notify()`` right after a commit, and polls as well, to pick up rows left by a
    crash or written by another process.
    """

    def __init__(
        self,
        db: Database,
        bus: Bus,
        expanders: dict[str, Expander] | None = None,
        *,
        batch_rows: int = 200,
        poll_s: float = 1.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.expanders = expanders or {}
        self.batch_rows = batch_rows
        self.poll_s = poll_s
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.1
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            try:
                while await self.drain_once() == self.batch_rows:
                    pass
                backoff = 0.1
            except Exception as exc:
                # The bus or the database is away: keep the rows and try again later.
                log.warning("outbox relay failed; retrying", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def drain_once(self) -> int:
        """Publish and delete up to ``batch_rows`` rows; return how many."""
        async with self.db.write() as session:
            query = select(OutboxRow).order_by(OutboxRow.id).limit(self.batch_rows)
            if self.db.dialect == "postgresql":
                # Several API processes may relay at once: each takes rows nobody else holds.
                query = query.with_for_update(skip_locked=True)
            rows: Sequence[OutboxRow] = (await session.scalars(query)).all()
            if not rows:
                return 0
            envelopes: list[Envelope] = []
            for row in rows:
                expand = self.expanders.get(row.topic)
                envelopes.extend(await expand(session, row) if expand else plain_envelopes(row))
            await self.bus.publish(envelopes)
            await session.execute(delete(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows])))
        return len(rows)
