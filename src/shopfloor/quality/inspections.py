"""Inspections of lots: their state machine, and their completion with a disposition.

Takes a session, never commits. ``start`` and ``cancel`` are one conditional UPDATE
(``… WHERE state IN (allowed)``), whose row count says whether this request made the change.
Completing locks the inspection's row first (``FOR UPDATE`` on PostgreSQL; SQLite serialises
writers), as recording measurements and defects does (``recording``), so no measurement can
slip in beside a completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import utcnow
from shopfloor.core.errors import IllegalTransition
from shopfloor.quality import disposition, records
from shopfloor.quality.models import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PLANNED,
    Characteristic,
    Defect,
    DefectType,
    Inspection,
    Lot,
    Measurement,
    Part,
)
from shopfloor.quality.sampling import plan_for
from shopfloor.quality.schemas import InspectionCreate
from shopfloor.storage.lookup import get_or_404, move_if_in_state

STARTABLE = (PLANNED,)
RECORDING = (IN_PROGRESS,)
COMPLETABLE = (IN_PROGRESS,)
CANCELLABLE = (PLANNED, IN_PROGRESS)


# --- documents -------------------------------------------------------------------------------


async def _counts(
    session: AsyncSession, inspection_ids: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """(measurements, defects found) of each inspection; defects count their ``count``."""
    if not inspection_ids:
        return {}
    measured = await session.execute(
        select(Measurement.inspection_id, func.count())
        .where(Measurement.inspection_id.in_(inspection_ids))
        .group_by(Measurement.inspection_id)
    )
    found = await session.execute(
        select(Defect.inspection_id, func.sum(Defect.count))
        .where(Defect.inspection_id.in_(inspection_ids))
        .group_by(Defect.inspection_id)
    )
    measurements = dict(measured.all())
    defects = dict(found.all())
    return {i: (measurements.get(i, 0), int(defects.get(i) or 0)) for i in inspection_ids}


def inspection_document(
    inspection: Inspection, lot: Lot, counts: tuple[int, int] = (0, 0)
) -> dict[str, Any]:
    """The inspection as the API shows it."""
    return {
        "id": inspection.id,
        "lot_id": inspection.lot_id,
        "lot_number": lot.lot_number,
        "part_id": lot.part_id,
        "line": lot.line,
        "kind": inspection.kind,
        "sample_size": inspection.sample_size,
        "state": inspection.state,
        "inspector": inspection.inspector,
        "started_at": inspection.started_at,
        "completed_at": inspection.completed_at,
        "cancelled_at": inspection.cancelled_at,
        "disposition": inspection.disposition,
        "reasons": list(inspection.reasons or []),
        "quality_score": inspection.quality_score,
        "plan": inspection.plan,
        "nonconforming_units": inspection.nonconforming_units,
        "measurement_count": counts[0],
        "defect_count": counts[1],
        "created_by": inspection.created_by,
        "created_at": inspection.created_at,
        "updated_at": inspection.updated_at,
    }


async def _document(session: AsyncSession, inspection: Inspection) -> dict[str, Any]:
    lot = await session.get(Lot, inspection.lot_id)
    assert lot is not None  # the foreign key keeps it
    counts = await _counts(session, [inspection.id])
    return inspection_document(inspection, lot, counts[inspection.id])


async def load_inspection(
    session: AsyncSession, inspection_id: int, *, lock: bool = False
) -> Inspection:
    """The inspection, read afresh (and locked for this transaction with ``lock``); else 404."""
    options: dict[str, Any] = {"populate_existing": True}
    if lock:
        options["with_for_update"] = True
    return await get_or_404(session, Inspection, inspection_id, "inspection", **options)


def illegal_transition(
    inspection: Inspection, allowed: Sequence[str], action: str
) -> IllegalTransition:
    return IllegalTransition(
        f"inspection {inspection.id} is {inspection.state}; only an inspection that is "
        f"{' or '.join(allowed)} can {action}"
    )


# --- the life of an inspection -----------------------------------------------------------


async def create_inspection(
    session: AsyncSession, data: InspectionCreate, actor: str
) -> dict[str, Any]:
    """A ``planned`` inspection of a lot; the sample cannot be larger than the lot."""
    lot = await records.referenced_lot(session, data.lot_id)
    if data.sample_size > lot.quantity:
        raise records.field_error(
            "sample_size",
            f"the sample ({data.sample_size}) exceeds lot {lot.id}'s quantity ({lot.quantity})",
        )
    now = utcnow()
    inspection = Inspection(
        lot_id=lot.id,
        kind=data.kind,
        sample_size=data.sample_size,
        state=PLANNED,
        reasons=[],
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(inspection)
    await session.flush()
    return inspection_document(inspection, lot)


async def get_inspection(session: AsyncSession, inspection_id: int) -> dict[str, Any]:
    return await _document(session, await load_inspection(session, inspection_id))


async def list_inspections(
    session: AsyncSession,
    *,
    lot_id: int | None = None,
    states: Sequence[str] = (),
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first (id descending)."""
    query = (
        select(Inspection, Lot)
        .join(Lot, Lot.id == Inspection.lot_id)
        .order_by(Inspection.id.desc())
        .limit(limit)
    )
    if lot_id is not None:
        query = query.where(Inspection.lot_id == lot_id)
    if states:
        query = query.where(Inspection.state.in_(states))
    if before_id is not None:
        query = query.where(Inspection.id < before_id)
    rows = (await session.execute(query)).all()
    counts = await _counts(session, [inspection.id for inspection, _ in rows])
    return [inspection_document(i, lot, counts[i.id]) for i, lot in rows]


async def _transition(
    session: AsyncSession,
    inspection_id: int,
    allowed: Sequence[str],
    action: str,
    values: dict[str, Any],
) -> Inspection:
    """Apply ``values`` when the state is one of ``allowed``, else 409 (or 404)."""
    values = {**values, "updated_at": utcnow()}
    if await move_if_in_state(session, Inspection, inspection_id, allowed, values):
        return await load_inspection(session, inspection_id)
    raise illegal_transition(await load_inspection(session, inspection_id), allowed, action)


async def start(session: AsyncSession, inspection_id: int, actor: str) -> dict[str, Any]:
    """``planned`` → ``in_progress``; whoever starts it is its inspector."""
    values = {"state": IN_PROGRESS, "inspector": actor, "started_at": utcnow()}
    inspection = await _transition(session, inspection_id, STARTABLE, "be started", values)
    return await _document(session, inspection)


async def cancel(session: AsyncSession, inspection_id: int) -> dict[str, Any]:
    """``planned`` or ``in_progress`` → ``cancelled``; what it recorded is kept."""
    values = {"state": CANCELLED, "cancelled_at": utcnow()}
    inspection = await _transition(session, inspection_id, CANCELLABLE, "be cancelled", values)
    return await _document(session, inspection)


async def complete(session: AsyncSession, inspection_id: int) -> dict[str, Any]:
    """``in_progress`` → ``completed``, with the lot's disposition (``disposition.decide``)."""
    inspection = await load_inspection(session, inspection_id, lock=True)
    if inspection.state not in COMPLETABLE:
        raise illegal_transition(inspection, COMPLETABLE, "be completed")
    lot, part = (
        await session.execute(
            select(Lot, Part).join(Part, Part.id == Lot.part_id).where(Lot.id == inspection.lot_id)
        )
    ).one()
    plan = plan_for(lot.quantity, part.aql)
    decision = disposition.decide(
        plan,
        inspection.sample_size,
        await _observations(session, inspection.id),
        await _findings(session, inspection.id),
    )
    now = utcnow()
    inspection.state = COMPLETED
    inspection.completed_at = now
    inspection.updated_at = now
    inspection.disposition = decision.disposition
    inspection.reasons = decision.reasons
    inspection.quality_score = decision.quality_score
    inspection.nonconforming_units = decision.nonconforming_units
    inspection.plan = {**asdict(plan), "inspect_all": plan.inspect_all}
    await session.flush()
    return await _document(session, inspection)


async def _observations(session: AsyncSession, inspection_id: int) -> list[disposition.Observation]:
    query = (
        select(Measurement, Characteristic)
        .join(Characteristic, Characteristic.id == Measurement.characteristic_id)
        .where(Measurement.inspection_id == inspection_id)
        .order_by(Measurement.id)
    )
    return [
        disposition.Observation(
            characteristic=c.name,
            value=m.value,
            conforming=m.conforming,
            unit_serial=m.unit_serial,
            lsl=c.lsl,
            usl=c.usl,
            unit=c.unit,
        )
        for m, c in (await session.execute(query))
    ]


async def _findings(session: AsyncSession, inspection_id: int) -> list[disposition.Finding]:
    query = (
        select(Defect, DefectType.name)
        .outerjoin(DefectType, DefectType.code == Defect.defect_type)
        .where(Defect.inspection_id == inspection_id)
        .order_by(Defect.id)
    )
    return [
        disposition.Finding(
            name=name or d.defect_type,
            severity=d.severity,
            count=d.count,
            location=d.location,
            unit_serial=d.unit_serial,
        )
        for d, name in (await session.execute(query))
    ]
