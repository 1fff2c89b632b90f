"""Alarms as the list shows them: one read that also names each alarm's subject.

An alarm's subject is a sensor (its path links to the sensor's page), a quality characteristic
(SPC alarms: the characteristic and its part), or an asset (``failure_risk`` and ``drift``).
The list filters exactly as ``alarms.service.list_alarms`` (and so ``GET /api/v1/alarms``)
does: by state, severity, and ``under`` a path (the sensor's, or where the alarm is filed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shopfloor.alarms.models import Alarm, AlarmNote
from shopfloor.alarms.service import under_path
from shopfloor.plant.models import Asset, Sensor
from shopfloor.quality.models import Characteristic, Part
from shopfloor.storage.lookup import is_row_id
from shopfloor.web.alarm_views.filters import AlarmFilters

NOT_CLOSED = ("open", "acknowledged", "resolved")


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """One alarm with what its row and its history show; compared whole to spot changes."""

    id: int
    kind: str
    rule: str
    severity: str
    state: str
    message: str
    value: float | None
    score: float | None
    count: int
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    assignee: str | None
    escalation_level: int
    escalated_at: datetime | None
    closed_at: datetime | None
    notes: int
    sensor_id: int | None
    sensor_path: str | None
    unit: str | None
    characteristic_id: int | None
    characteristic: str | None
    part_number: str | None
    asset_id: int | None
    asset_path: str | None
    asset_name: str | None
    subject_path: str | None

    @property
    def subject(self) -> str:
        """``sensor``, ``characteristic``, ``asset``, or ``none`` (its subject was deleted)."""
        if self.sensor_id is not None:
            return "sensor"
        if self.characteristic_id is not None:
            return "characteristic"
        if self.asset_id is not None:
            return "asset"
        return "none"

    @property
    def path(self) -> str | None:
        """The path the alarm is listed under, as ``GET /api/v1/alarms`` shows it."""
        return self.sensor_path if self.sensor_id is not None else self.subject_path

    @property
    def paths(self) -> tuple[str | None, ...]:
        """Every path ``under=`` finds the alarm by."""
        return (self.sensor_path, self.subject_path)

    @property
    def active(self) -> bool:
        return self.state in ("open", "acknowledged")

    def record_key(self) -> tuple[Any, ...]:
        """What the alarm's history shows: when it differs, the history is drawn again."""
        return (
            self.state,
            self.acknowledged_at,
            self.resolved_at,
            self.closed_at,
            self.escalation_level,
            self.assignee,
            self.notes,
        )


def _row_query() -> Select[Any]:
    owner = aliased(Asset)
    notes = (
        select(func.count(AlarmNote.id))
        .where(AlarmNote.alarm_id == Alarm.id)
        .correlate(Alarm)
        .scalar_subquery()
    )
    return (
        select(
            Alarm.id,
            Alarm.kind,
            Alarm.rule,
            Alarm.severity,
            Alarm.state,
            Alarm.message,
            Alarm.value,
            Alarm.score,
            Alarm.count,
            Alarm.opened_at,
            Alarm.last_seen_at,
            Alarm.acknowledged_by,
            Alarm.acknowledged_at,
            Alarm.resolved_by,
            Alarm.resolved_at,
            Alarm.resolution,
            Alarm.assignee,
            func.coalesce(Alarm.escalation_level, 0),
            Alarm.escalated_at,
            Alarm.closed_at,
            notes,
            Alarm.sensor_id,
            Sensor.path,
            Sensor.unit,
            Alarm.characteristic_id,
            Characteristic.name,
            Part.part_number,
            Alarm.asset_id,
            owner.path,
            owner.name,
            Alarm.subject_path,
        )
        .select_from(Alarm)
        .outerjoin(Sensor, Sensor.id == Alarm.sensor_id)
        .outerjoin(Characteristic, Characteristic.id == Alarm.characteristic_id)
        .outerjoin(Part, Part.id == Characteristic.part_id)
        .outerjoin(owner, owner.id == Alarm.asset_id)
    )


async def _rows(session: AsyncSession, query: Select[Any]) -> list[AlarmRow]:
    return [AlarmRow(*row) for row in (await session.execute(query)).all()]


async def list_rows(
    session: AsyncSession,
    filters: AlarmFilters,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AlarmRow]:
    """Newest first (id descending), as ``alarms.service.list_alarms`` filters them."""
    query = _row_query().order_by(Alarm.id.desc()).limit(limit)
    if filters.states:
        query = query.where(Alarm.state.in_(filters.states))
    if filters.severities:
        query = query.where(Alarm.severity.in_(filters.severities))
    if filters.under is not None:
        query = query.where(
            or_(
                under_path(Sensor.path, filters.under),
                under_path(Alarm.subject_path, filters.under),
            )
        )
    if before_id is not None:
        query = query.where(Alarm.id < before_id)
    return await _rows(session, query)


async def rows_by_id(session: AsyncSession, ids: Sequence[int]) -> list[AlarmRow]:
    ids = [alarm_id for alarm_id in ids if is_row_id(alarm_id)]  # no id the column cannot hold
    if not ids:
        return []
    return await _rows(session, _row_query().where(Alarm.id.in_(ids)).order_by(Alarm.id))


async def row_of(session: AsyncSession, alarm_id: int) -> AlarmRow | None:
    found = await rows_by_id(session, [alarm_id])
    return found[0] if found else None


async def watched_rows(
    session: AsyncSession, *, newest: int = 200, most: int = 3000
) -> list[AlarmRow]:
    """What the live feed compares turn by turn: every alarm that can still change (those not
    closed) and the ``newest`` alarms in any state; at most ``most``, the newest. In id order,
    so that new alarms are announced oldest first."""
    threshold = await session.scalar(
        select(Alarm.id).order_by(Alarm.id.desc()).offset(newest - 1).limit(1)
    )
    query = _row_query().order_by(Alarm.id.desc()).limit(most)
    if threshold is not None:
        query = query.where(or_(Alarm.id >= threshold, Alarm.state.in_(NOT_CLOSED)))
    return list(reversed(await _rows(session, query)))


async def counts_by_state(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Alarms not closed by (state, severity): the list's summary."""
    rows = await session.execute(
        select(Alarm.state, Alarm.severity, func.count())
        .where(Alarm.state.in_(NOT_CLOSED))
        .group_by(Alarm.state, Alarm.severity)
    )
    return {(state, severity): int(count) for state, severity, count in rows.all()}
