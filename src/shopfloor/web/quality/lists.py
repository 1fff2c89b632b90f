"""The lots and inspections as the quality pages list them, newest first.

Reads only; the lists page through with ``before`` (the last id shown), one more row than
shown being read to know whether there is an older page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shopfloor.quality import inspections
from shopfloor.quality.models import (
    CANCELLED,
    COMPLETED,
    DISPOSITIONS,
    IN_PROGRESS,
    PLANNED,
    Characteristic,
    Inspection,
    Lot,
    Part,
)
from shopfloor.quality.records import at_or_under
from shopfloor.web.quality.states import Shown, inspection_shown, lot_shown

PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class PartRef:
    id: int
    part_number: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.part_number} · {self.name}"


@dataclass(frozen=True, slots=True)
class LotRow:
    id: int
    lot_number: str
    quantity: int
    line: str | None
    created_at: datetime
    part: PartRef
    status: Shown
    inspection_id: int | None  # the inspection its status comes from


@dataclass(frozen=True, slots=True)
class InspectionRow:
    id: int
    kind: str
    state: str
    shown: Shown
    lot_id: int
    lot_number: str
    line: str | None
    part: PartRef | None
    sample_size: int
    inspector: str | None
    quality_score: float | None
    measurement_count: int
    defect_count: int
    created_at: datetime
    completed_at: datetime | None
    reasons: list[str]

    @property
    def when(self) -> datetime:
        return self.completed_at or self.created_at


@dataclass(frozen=True, slots=True)
class Listing:
    rows: list[Any]
    older: int | None  # the ``before`` of the next page, None on the last one


def _part(part: Part) -> PartRef:
    return PartRef(part.id, part.part_number, part.name)


def _lot_status_filter(status: str, latest: Any) -> ColumnElement[bool]:
    if status == "none":
        return latest.id.is_(None)
    if status in (PLANNED, IN_PROGRESS):
        return latest.state == status
    return and_(latest.state == COMPLETED, latest.disposition == status)


async def lots(
    session: AsyncSession,
    *,
    status: str | None = None,
    under: str | None = None,
    part_id: int | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> Listing:
    """Lots with their part and status; ``status`` one of ``states.LOT_FILTERS``."""
    newest = (
        select(Inspection.lot_id, func.max(Inspection.id).label("inspection_id"))
        .where(Inspection.state != CANCELLED)
        .group_by(Inspection.lot_id)
        .subquery()
    )
    latest = aliased(Inspection)
    query = (
        select(Lot, Part, latest)
        .join(Part, Part.id == Lot.part_id)
        .outerjoin(newest, newest.c.lot_id == Lot.id)
        .outerjoin(latest, latest.id == newest.c.inspection_id)
        .order_by(Lot.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(_lot_status_filter(status, latest))
    if under is not None:
        query = query.where(at_or_under(Lot.line, under))
    if part_id is not None:
        query = query.where(Lot.part_id == part_id)
    if before is not None:
        query = query.where(Lot.id < before)
    rows = [
        LotRow(
            id=lot.id,
            lot_number=lot.lot_number,
            quantity=lot.quantity,
            line=lot.line,
            created_at=lot.created_at,
            part=_part(part),
            status=lot_shown(
                inspection.state if inspection else None,
                inspection.disposition if inspection else None,
            ),
            inspection_id=inspection.id if inspection else None,
        )
        for lot, part, inspection in (await session.execute(query)).all()
    ]
    return _listing(rows, limit)


def _listing(rows: list[Any], limit: int) -> Listing:
    older = rows[limit - 1].id if len(rows) > limit else None
    return Listing(rows[:limit], older)


async def parts_by_id(session: AsyncSession, part_ids: Sequence[int]) -> dict[int, PartRef]:
    if not part_ids:
        return {}
    found = await session.scalars(select(Part).where(Part.id.in_(sorted(set(part_ids)))))
    return {part.id: _part(part) for part in found}


def inspection_row(document: dict[str, Any], part: PartRef | None) -> InspectionRow:
    """An inspection as ``inspections.inspection_document`` gives it, for a page."""
    return InspectionRow(
        id=document["id"],
        kind=document["kind"],
        state=document["state"],
        shown=inspection_shown(document["state"], document["disposition"]),
        lot_id=document["lot_id"],
        lot_number=document["lot_number"],
        line=document["line"],
        part=part,
        sample_size=document["sample_size"],
        inspector=document["inspector"],
        quality_score=document["quality_score"],
        measurement_count=document["measurement_count"],
        defect_count=document["defect_count"],
        created_at=document["created_at"],
        completed_at=document["completed_at"],
        reasons=document["reasons"],
    )


async def inspection_listing(
    session: AsyncSession,
    *,
    states: Sequence[str] = (),
    lot_id: int | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> Listing:
    """Inspections through the inspection service, newest first, with their parts."""
    documents = await inspections.list_inspections(
        session, lot_id=lot_id, states=states, before_id=before, limit=limit + 1
    )
    parts = await parts_by_id(session, [d["part_id"] for d in documents])
    rows = [inspection_row(d, parts.get(d["part_id"])) for d in documents]
    return _listing(rows, limit)


async def state_counts(session: AsyncSession) -> dict[str, int]:
    """Inspections by state; completed ones by disposition instead."""
    query = select(Inspection.state, Inspection.disposition, func.count()).group_by(
        Inspection.state, Inspection.disposition
    )
    counts: dict[str, int] = {}
    for state, disposition, count in await session.execute(query):
        key = disposition if state == COMPLETED and disposition in DISPOSITIONS else state
        counts[key] = counts.get(key, 0) + count
    return counts


async def line_paths(session: AsyncSession) -> list[str]:
    """The lines lots were made on (for filters)."""
    query = select(distinct(Lot.line)).where(Lot.line.is_not(None)).order_by(Lot.line)
    return [line for line in await session.scalars(query) if line]


@dataclass(frozen=True, slots=True)
class CharacteristicRow:
    id: int
    name: str
    kind: str
    unit: str | None
    lsl: float | None
    usl: float | None
    target: float | None
    part: PartRef


async def characteristic_rows(
    session: AsyncSession, part_id: int | None = None
) -> list[CharacteristicRow]:
    """Every characteristic (of one part), by part number then name."""
    query = (
        select(Characteristic, Part)
        .join(Part, Part.id == Characteristic.part_id)
        .order_by(Part.part_number, Characteristic.name)
    )
    if part_id is not None:
        query = query.where(Characteristic.part_id == part_id)
    return [
        CharacteristicRow(c.id, c.name, c.kind, c.unit, c.lsl, c.usl, c.target, _part(p))
        for c, p in await session.execute(query)
    ]
