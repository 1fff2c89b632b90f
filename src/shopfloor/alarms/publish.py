"""Alarm documents as the API and the events show them, and events recorded in the outbox.

An event is written to the outbox in the transaction that changes the alarm; after the commit
the owner of the transaction hands the returned ``PendingEvent`` list to the relay (``offer``),
and the relay publishes them at once. A crash in between loses nothing: the relay's recovery
publishes rows left behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.events import ALARM_EVENTS, event_payload
from shopfloor.alarms.models import Alarm, AlarmNote
from shopfloor.bus import outbox
from shopfloor.bus.message import Envelope
from shopfloor.core.clock import rfc3339, utcnow


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def note_document(note: AlarmNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "author": note.author,
        "text": note.text,
        "created_at": _time(note.created_at),
    }


def alarm_document(
    alarm: Alarm, path: str | None, notes: Iterable[AlarmNote] = ()
) -> dict[str, Any]:
    """The alarm as CONTRACT shows it. ``path`` is the sensor's path; an alarm without a sensor
    (kind ``spc``, or an asset's ``failure_risk`` and ``drift``) shows ``sensor`` null, its
    ``subject_path`` and its ``characteristic`` or ``asset``."""
    if alarm.sensor_id is None:
        path = alarm.subject_path
    return {
        "id": alarm.id,
        "sensor": alarm.sensor_id,
        "characteristic": alarm.characteristic_id,
        "asset": alarm.asset_id,
        "path": path,
        "rule": alarm.rule,
        "kind": alarm.kind,
        "severity": alarm.severity,
        "state": alarm.state,
        "message": alarm.message,
        "value": alarm.value,
        "score": alarm.score,
        "count": alarm.count,
        "opened_at": _time(alarm.opened_at),
        "last_seen_at": _time(alarm.last_seen_at),
        "acknowledged_by": alarm.acknowledged_by,
        "acknowledged_at": _time(alarm.acknowledged_at),
        "resolved_by": alarm.resolved_by,
        "resolved_at": _time(alarm.resolved_at),
        "resolution": alarm.resolution,
        "assignee": alarm.assignee,
        "escalation_level": alarm.escalation_level or 0,
        "closed_at": _time(alarm.closed_at),
        "notes": [note_document(note) for note in notes],
    }


def event_key(document: dict[str, Any]) -> str:
    """The bus key of an alarm's events: its path, else (an SPC alarm filed under no path) its
    characteristic, so that one alarm's events stay in order on a keyed bus."""
    if document.get("path"):
        return str(document["path"])
    if document.get("characteristic") is not None:
        return f"characteristic/{document['characteristic']}"
    return f"alarm/{document.get('id')}"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event committed to the outbox, ready to hand to the relay."""

    row_id: int
    envelope: Envelope


async def record_event(
    session: AsyncSession, event: str, document: dict[str, Any], at: datetime | None = None
) -> PendingEvent:
    """Write ``event`` about the alarm ``document`` to the outbox, in the caller's transaction."""
    payload = event_payload(event, document, rfc3339(at or utcnow()))
    created_at = time.time()
    key = event_key(document)
    row_id = await outbox.add(session, ALARM_EVENTS, key, payload)
    envelope = Envelope(
        topic=ALARM_EVENTS,
        key=key,
        payload=payload,
        id=f"outbox-{row_id}",  # what the relay's recovery would publish it as
        created_at=created_at,
    )
    return PendingEvent(row_id, envelope)


async def record_events(
    session: AsyncSession, events: list[tuple[str, dict[str, Any]]], at: datetime | None = None
) -> list[PendingEvent]:
    """``record_event`` for many (event, document) pairs, in one statement."""
    stamp = rfc3339(at or utcnow())
    payloads = [(event_key(doc), event_payload(event, doc, stamp)) for event, doc in events]
    recorded = await outbox.add_many(session, ALARM_EVENTS, payloads)
    return [
        PendingEvent(
            row_id,
            Envelope(
                topic=ALARM_EVENTS, key=key, payload=payload, id=f"outbox-{row_id}", created_at=t
            ),
        )
        for (row_id, t), (key, payload) in zip(recorded, payloads, strict=True)
    ]


def offer(relay: outbox.OutboxRelay | None, events: Iterable[PendingEvent]) -> None:
    """Hand committed events to the relay (without one, its recovery publishes them later)."""
    if relay is None:
        return
    for event in events:
        relay.offer(event.row_id, lambda envelope=event.envelope: [envelope])
