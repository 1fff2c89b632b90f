"""What an inspection records while it is in progress: measurements and defects.

Takes a session, never commits. A request's items are stored all or none: any bad item is 422
naming each bad one by index, and nothing is stored. The inspection's row is locked first
(``FOR UPDATE`` on PostgreSQL; SQLite serialises writers), so a completion cannot run between
the state check and the insert. The ``quality.measured`` events of new measurements are written
to the outbox in the same transaction; the caller hands them to the relay after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import rfc3339, utcnow
from shopfloor.core.errors import ValidationFailed
from shopfloor.quality import records
from shopfloor.quality.events import PendingEvent, record_measured
from shopfloor.quality.inspections import RECORDING, illegal_transition, load_inspection
from shopfloor.quality.models import Characteristic, Defect, Inspection, Lot, Measurement
from shopfloor.quality.schemas import DefectIn, MeasurementIn, item_error


async def _recording(session: AsyncSession, inspection_id: int, what: str) -> Inspection:
    inspection = await load_inspection(session, inspection_id, lock=True)
    if inspection.state not in RECORDING:
        raise illegal_transition(inspection, RECORDING, f"record {what}")
    return inspection


def _refuse(errors: list[dict[str, Any]], what: str) -> ValidationFailed:
    errors.sort(key=lambda error: error.get("index", -1))
    bad = len({error.get("index") for error in errors})
    return ValidationFailed(
        f"{bad} {what} item(s) are not valid; nothing was recorded", errors=errors
    )


def conforming(value: float, lsl: float | None, usl: float | None) -> bool | None:
    """Within [lsl, usl] (an open side always holds); None when there is no limit at all."""
    if lsl is None and usl is None:
        return None
    return (lsl is None or value >= lsl) and (usl is None or value <= usl)


async def add_measurements(
    session: AsyncSession,
    inspection_id: int,
    items: Sequence[MeasurementIn | None],
    errors: list[dict[str, Any]],
) -> tuple[list[Measurement], list[PendingEvent]]:
    """Record all the measurements, or none: any bad item (``errors`` holds those the schema
    found) is 422 naming each by index. Each characteristic must be one of the lot's part."""
    inspection = await _recording(session, inspection_id, "measurements")
    lot = await session.get(Lot, inspection.lot_id)
    assert lot is not None
    wanted = {item.characteristic_id for item in items if item is not None}
    found = await session.scalars(select(Characteristic).where(Characteristic.id.in_(wanted)))
    characteristics = {c.id: c for c in found}
    for index, item in enumerate(items):
        if item is None:
            continue
        characteristic = characteristics.get(item.characteristic_id)
        if characteristic is None:
            msg = f"characteristic {item.characteristic_id} does not exist"
            errors.append(item_error(index, "characteristic_id", msg, "not_found"))
        elif characteristic.part_id != lot.part_id:
            msg = (
                f"characteristic {characteristic.id} belongs to part {characteristic.part_id}, "
                f"not to part {lot.part_id} of lot {lot.lot_number!r}"
            )
            errors.append(item_error(index, "characteristic_id", msg, "wrong_part"))
    if errors:
        raise _refuse(errors, "measurement")
    now = utcnow()
    rows = []
    for item in items:
        assert item is not None
        spec = characteristics[item.characteristic_id]
        rows.append(
            Measurement(
                inspection_id=inspection.id,
                characteristic_id=item.characteristic_id,
                value=item.value,
                unit_serial=item.unit_serial,
                subgroup=item.subgroup,
                conforming=conforming(item.value, spec.lsl, spec.usl),
                measured_at=item.measured_at or now,
                created_at=now,
            )
        )
    session.add_all(rows)
    await session.flush()
    events = await record_measured(session, [_measured(row, lot) for row in rows])
    return rows, events


def _measured(measurement: Measurement, lot: Lot) -> dict[str, Any]:
    """The ``quality.measured`` payload of a measurement (see ``quality.events``)."""
    return {
        "measurement_id": measurement.id,
        "characteristic_id": measurement.characteristic_id,
        "part_id": lot.part_id,
        "lot_id": lot.id,
        "inspection_id": measurement.inspection_id,
        "line": lot.line,
        "value": measurement.value,
        "subgroup": measurement.subgroup,
        "unit_serial": measurement.unit_serial,
        "measured_at": rfc3339(measurement.measured_at),
    }


async def add_defects(
    session: AsyncSession,
    inspection_id: int,
    items: Sequence[DefectIn | None],
    errors: list[dict[str, Any]],
) -> tuple[list[Defect], list[str]]:
    """Record all the defects, or none; returns them and the defect codes this call added to
    the catalogue. A defect without a severity takes its type's default severity."""
    inspection = await _recording(session, inspection_id, "defects")
    known = await records.defect_types(
        session, [item.defect_type for item in items if item is not None]
    )
    # A new code enters the catalogue with the severity it is first recorded with.
    first_severity: dict[str, str] = {}
    for item in items:
        if item is not None and item.severity is not None and item.defect_type not in known:
            first_severity.setdefault(item.defect_type, item.severity)
    for index, item in enumerate(items):
        if item is not None and item.defect_type not in known.keys() | first_severity.keys():
            msg = f"defect type {item.defect_type!r} is new: give its severity"
            errors.append(item_error(index, "severity", msg, "missing"))
    if errors:
        raise _refuse(errors, "defect")
    ensured, added = await records.ensure_defect_types(session, first_severity)
    catalogue = {**known, **ensured}
    now = utcnow()
    rows = []
    for item in items:
        assert item is not None
        severity = item.severity or catalogue[item.defect_type].default_severity
        rows.append(
            Defect(
                inspection_id=inspection.id,
                **item.model_dump(exclude={"severity"}),
                severity=severity,
                created_at=now,
            )
        )
    session.add_all(rows)
    await session.flush()
    return rows, added


async def list_measurements(
    session: AsyncSession, inspection_id: int, after: int | None, limit: int
) -> Sequence[Measurement]:
    await load_inspection(session, inspection_id)
    query = (
        select(Measurement)
        .where(Measurement.inspection_id == inspection_id)
        .order_by(Measurement.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Measurement.id > after)
    return (await session.scalars(query)).all()


async def list_defects(
    session: AsyncSession, inspection_id: int, after: int | None, limit: int
) -> Sequence[Defect]:
    await load_inspection(session, inspection_id)
    query = select(Defect).where(Defect.inspection_id == inspection_id).order_by(Defect.id)
    if after is not None:
        query = query.where(Defect.id > after)
    return (await session.scalars(query.limit(limit))).all()
