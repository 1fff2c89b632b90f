"""The alarm lifecycle as people drive it: list, read, acknowledge, resolve, assign, notes.

Alarms of sensors are filed under the sensor's path; SPC alarms (no sensor, a characteristic)
under their ``subject_path``, so ``under=PATH`` finds both. People act on both the same way.

Takes a session, never commits. A transition is one conditional UPDATE (``… WHERE state IN
(allowed)``) whose row count says whether this request made it: of two concurrent
acknowledges exactly one changes the row, on PostgreSQL (the second waits for the first's row
lock, then finds the state changed) as on SQLite (writers are serialised). The event of a
transition is written to the outbox in the same transaction; the caller hands it to the relay
after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms import publish
from shopfloor.alarms.models import Alarm, AlarmNote
from shopfloor.alarms.publish import PendingEvent
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import IllegalTransition
from shopfloor.core.paths import subtree_bounds
from shopfloor.plant.models import Sensor
from shopfloor.storage.lookup import get_or_404, move_if_in_state

ACKNOWLEDGEABLE = ("open",)
RESOLVABLE = ("open", "acknowledged")
ASSIGNABLE = ("open", "acknowledged", "resolved")


def under_path(column: Any, path: str) -> ColumnElement[bool]:
    """``column`` is ``path`` or lies beneath it: a range scan, as the plant API does."""
    lo, hi = subtree_bounds(path)
    return or_(column == path, (column >= lo) & (column < hi))


async def list_alarms(
    session: AsyncSession,
    *,
    states: Sequence[str] = (),
    severities: Sequence[str] = (),
    under: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alarm documents, newest first (id descending), each with its notes."""
    query = (
        select(Alarm, Sensor.path)
        .outerjoin(Sensor, Sensor.id == Alarm.sensor_id)
        .order_by(Alarm.id.desc())
        .limit(limit)
    )
    if states:
        query = query.where(Alarm.state.in_(states))
    if severities:
        query = query.where(Alarm.severity.in_(severities))
    if under is not None:
        query = query.where(
            or_(under_path(Sensor.path, under), under_path(Alarm.subject_path, under))
        )
    if before_id is not None:
        query = query.where(Alarm.id < before_id)
    rows = (await session.execute(query)).all()
    notes = await _notes_of(session, [alarm.id for alarm, _ in rows])
    return [publish.alarm_document(alarm, path, notes.get(alarm.id, ())) for alarm, path in rows]


async def _notes_of(session: AsyncSession, alarm_ids: list[int]) -> dict[int, list[AlarmNote]]:
    found: dict[int, list[AlarmNote]] = {}
    if not alarm_ids:
        return found
    query = select(AlarmNote).where(AlarmNote.alarm_id.in_(alarm_ids)).order_by(AlarmNote.id)
    for note in await session.scalars(query):
        found.setdefault(note.alarm_id, []).append(note)
    return found


async def _alarm(session: AsyncSession, alarm_id: int, *, fresh: bool = False) -> Alarm:
    return await get_or_404(session, Alarm, alarm_id, "alarm", populate_existing=fresh)


async def _document(session: AsyncSession, alarm: Alarm) -> dict[str, Any]:
    path = None
    if alarm.sensor_id is not None:
        path = await session.scalar(select(Sensor.path).where(Sensor.id == alarm.sensor_id))
        path = path or ""
    notes = await _notes_of(session, [alarm.id])
    return publish.alarm_document(alarm, path, notes.get(alarm.id, ()))


async def get_alarm(session: AsyncSession, alarm_id: int) -> dict[str, Any]:
    return await _document(session, await _alarm(session, alarm_id))


async def _transition(
    session: AsyncSession,
    alarm_id: int,
    allowed: Sequence[str],
    action: str,
    values: dict[str, Any],
) -> Alarm:
    """Apply ``values`` when the alarm's state is one of ``allowed``, else 409 (or 404)."""
    if await move_if_in_state(session, Alarm, alarm_id, allowed, values):
        return await _alarm(session, alarm_id, fresh=True)
    alarm = await _alarm(session, alarm_id, fresh=True)
    raise IllegalTransition(
        f"alarm {alarm_id} is {alarm.state}; only an alarm that is {' or '.join(allowed)} "
        f"can be {action}"
    )


def _note(alarm_id: int, author: str, text: str, at: datetime) -> AlarmNote:
    return AlarmNote(alarm_id=alarm_id, author=author, text=text, created_at=at)


async def _with_event(
    session: AsyncSession, alarm: Alarm, event: str, actor: str, note: str | None, at: datetime
) -> tuple[dict[str, Any], PendingEvent]:
    if note is not None:
        session.add(_note(alarm.id, actor, note, at))
        await session.flush()
    document = await _document(session, alarm)
    return document, await publish.record_event(session, event, document, at)


async def acknowledge(
    session: AsyncSession, alarm_id: int, actor: str, note: str | None = None
) -> tuple[dict[str, Any], PendingEvent]:
    """``open`` → ``acknowledged``; returns the alarm document and its ``alarm.acknowledged``."""
    now = utcnow()
    values = {"state": "acknowledged", "acknowledged_by": actor, "acknowledged_at": now}
    alarm = await _transition(session, alarm_id, ACKNOWLEDGEABLE, "acknowledged", values)
    return await _with_event(session, alarm, "alarm.acknowledged", actor, note, now)


async def resolve(
    session: AsyncSession, alarm_id: int, actor: str, note: str | None = None
) -> tuple[dict[str, Any], PendingEvent]:
    """``open`` or ``acknowledged`` → ``resolved`` by a person; with ``alarm.resolved``."""
    now = utcnow()
    values = {"state": "resolved", "resolved_by": actor, "resolved_at": now, "resolution": "person"}
    alarm = await _transition(session, alarm_id, RESOLVABLE, "resolved", values)
    return await _with_event(session, alarm, "alarm.resolved", actor, note, now)


async def assign(session: AsyncSession, alarm_id: int, user: str | None) -> dict[str, Any]:
    """Set (or, with None, clear) who takes care of the alarm; a closed alarm is 409."""
    alarm = await _transition(session, alarm_id, ASSIGNABLE, "assigned", {"assignee": user})
    return await _document(session, alarm)


async def add_note(session: AsyncSession, alarm_id: int, author: str, text: str) -> AlarmNote:
    """A note on an alarm in any state."""
    alarm = await _alarm(session, alarm_id)
    note = _note(alarm.id, author, text, utcnow())
    session.add(note)
    await session.flush()
    return note
