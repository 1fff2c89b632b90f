"""Updates of claimed delivery rows; a digest's folded rows follow the digest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.notify.models import DEAD, DIGEST_EVENT, FAILED, SENDING, Delivery

MAX_ERROR = 2000
# What a digest passes on to the deliveries folded into it.
FOLLOWED = ("status", "sent_at", "next_attempt_at")


def failure(status: str, reason: str) -> dict[str, Any]:
    return {
        "status": status,
        "last_error": reason[:MAX_ERROR],
        "claimed_by": None,
        "claimed_until": None,
    }


async def mirror(session: AsyncSession, digest_ids: list[int], values: dict[str, Any]) -> int:
    """Give the deliveries folded into these digests the digests' new state; how many."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.digest_id.in_(digest_ids))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def set_claimed(
    session: AsyncSession,
    row_id: int,
    values: dict[str, Any],
    *,
    claimed_by: str | None = None,
) -> int | None:
    """Update one ``sending`` row (of ``claimed_by``) and, for a digest, its folded rows.

    Returns how many rows were folded into it (0 for a single delivery), or None when the row
    was no longer claimed that way (its claim expired and another worker took it over).
    """
    query = update(Delivery).where(Delivery.id == row_id, Delivery.status == SENDING)
    if claimed_by is not None:
        query = query.where(Delivery.claimed_by == claimed_by)
    event = await session.scalar(
        query.values(**values)
        .returning(Delivery.event)
        .execution_options(synchronize_session=False)
    )
    if event is None:
        return None
    if event != DIGEST_EVENT:
        return 0
    followed = {key: values[key] for key in FOLLOWED if key in values}
    if values.get("last_error"):
        followed["last_error"] = f"digest {row_id}: {values['last_error']}"[:MAX_ERROR]
    return await mirror(session, [row_id], followed)


async def reclaim_expired(session: AsyncSession, now: datetime, max_attempts: int) -> int:
    """Rows whose worker stopped mid-send: tried again (or dead when out of attempts)."""
    rows = await session.execute(
        select(Delivery.id, Delivery.attempts)
        .where(
            Delivery.status == SENDING,
            Delivery.digest_id.is_(None),
            Delivery.claimed_until < now,
        )
        .with_for_update(skip_locked=True)
    )
    reason = "the worker sending it stopped before it finished"
    expired = rows.all()
    for row_id, attempts in expired:
        status = DEAD if attempts >= max_attempts else FAILED
        await set_claimed(session, row_id, {**failure(status, reason), "next_attempt_at": now})
    return len(expired)
