"""Digests: many held deliveries of one channel folded into one message.

The digest is a delivery row of its own (event ``digest``); the folded rows point to it with
``digest_id`` and share its fate. Its payload is a summary written when it is formed, so a retry
sends exactly the same message.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.events import SEVERITIES
from shopfloor.core.clock import rfc3339
from shopfloor.notify.models import DIGEST_EVENT, SENDING, WAITING, Channel, Delivery
from shopfloor.notify.templates import DIGEST_ITEMS

EVENT_ORDER = ("alarm.opened", "alarm.reminder", "alarm.escalated", "alarm.acknowledged")


def waiting_of(channel_id: int, now: datetime) -> list[Any]:
    """The conditions of a channel's deliveries that wait and are due (digests excluded)."""
    return [
        Delivery.channel_id == channel_id,
        Delivery.status.in_(WAITING),
        Delivery.digest_id.is_(None),
        Delivery.next_attempt_at <= now,
        Delivery.event != DIGEST_EVENT,
    ]


async def form_digest(
    session: AsyncSession, channel: Channel, now: datetime, claim: dict[str, Any]
) -> Delivery | None:
    """Fold every due waiting delivery of ``channel`` into a new digest, claimed by ``claim``.

    Returns None when nothing was left to fold (another worker got there first).
    """
    digest = Delivery(
        channel_id=channel.id,
        event_id=f"digest-{uuid.uuid4().hex}",
        event=DIGEST_EVENT,
        status=SENDING,
        attempts=1,
        next_attempt_at=now,
        attempted_at=now,
        created_at=now,
        payload={},
        **claim,
    )
    session.add(digest)
    await session.flush()
    folded = await session.execute(
        update(Delivery)
        .where(*waiting_of(channel.id, now), Delivery.id != digest.id)
        .values(digest_id=digest.id, status=SENDING)
        .execution_options(synchronize_session=False)
    )
    if not folded.rowcount:
        await session.delete(digest)
        await session.flush()
        return None
    digest.payload = await summary(session, channel, digest.id)
    await session.flush()
    return digest


def _ordered(counts: dict[str, int], order: tuple[str, ...]) -> dict[str, int]:
    known = {key: counts[key] for key in order if key in counts}
    return {**known, **{key: n for key, n in sorted(counts.items()) if key not in known}}


async def summary(session: AsyncSession, channel: Channel, digest_id: int) -> dict[str, Any]:
    """Counts by event and severity, the first alarms listed, how many more."""
    folded = Delivery.digest_id == digest_id
    groups = await session.execute(
        select(Delivery.event, Delivery.severity, func.count())
        .where(folded)
        .group_by(Delivery.event, Delivery.severity)
    )
    by_event: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for event, severity, count in groups:
        by_event[event] = by_event.get(event, 0) + count
        key = severity or "info"
        by_severity[key] = by_severity.get(key, 0) + count
    totals = (
        await session.execute(
            select(
                func.count(),
                func.count(func.distinct(Delivery.alarm_id)),
                func.min(Delivery.created_at),
                func.max(Delivery.created_at),
            ).where(folded)
        )
    ).one()
    count, alarms, first_at, last_at = totals
    payloads = await session.scalars(
        select(Delivery.payload).where(folded).order_by(Delivery.id).limit(DIGEST_ITEMS)
    )
    listed = [_item(payload) for payload in payloads]
    severities = [s for s in reversed(SEVERITIES) if s in by_severity]
    return {
        "channel": channel.name,
        "count": count,
        "alarm_count": alarms,
        "limit": channel.rate_limit_messages,
        "window_s": channel.rate_limit_window_s,
        "first_at": rfc3339(first_at) if first_at else None,
        "last_at": rfc3339(last_at) if last_at else None,
        "by_event": _ordered(by_event, (*EVENT_ORDER, "alarm.resolved")),
        "by_severity": _ordered(by_severity, tuple(reversed(SEVERITIES))),
        "top_severity": severities[0] if severities else "info",
        "listed": listed,
        "more": max(0, count - len(listed)),
    }


def _item(payload: dict[str, Any]) -> dict[str, Any]:
    alarm = payload.get("alarm", {})
    return {
        "event": payload.get("event"),
        "at": payload.get("at"),
        "alarm_id": alarm.get("id"),
        "path": alarm.get("path"),
        "severity": alarm.get("severity", "info"),
        "state": alarm.get("state"),
        "message": alarm.get("message"),
        "value": alarm.get("value"),
    }
