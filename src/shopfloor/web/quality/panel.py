"""An inspection as its page shows it: the lot and part, the part's characteristics to
measure, what was recorded so far, and (once completed) the lot's disposition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.quality import inspections, records
from shopfloor.quality.models import (
    COMPLETED,
    IN_PROGRESS,
    PLANNED,
    SEVERITIES,
    Characteristic,
    Defect,
    DefectType,
    Lot,
    Measurement,
    Part,
)
from shopfloor.quality.sampling import SamplingPlan, plan_for
from shopfloor.web.quality.entry import Entry, next_serial
from shopfloor.web.quality.numbers import decimals_for, fixed, spec_text
from shopfloor.web.quality.states import KINDS, Shown, inspection_shown

SHOWN_RECORDS = 100


@dataclass(frozen=True)
class ToMeasure:
    """A characteristic of the lot's part, as the entry form lists it."""

    id: int
    name: str
    kind: str
    unit: str | None
    lsl: float | None
    usl: float | None
    target: float | None
    decimals: int
    spec: str

    @property
    def step(self) -> str:
        return "1" if self.kind == "attribute" else "any"


@dataclass(frozen=True)
class RecordedMeasurement:
    id: int
    characteristic: str
    characteristic_id: int
    value: str
    unit: str | None
    unit_serial: str | None
    subgroup: int | None
    conforming: bool | None
    measured_at: Any


@dataclass
class UnitRow:
    """One measured unit: its values by characteristic (a unit without a serial is what one
    submission recorded)."""

    serial: str | None
    subgroup: int | None
    measured_at: Any
    values: dict[int, RecordedMeasurement]

    @property
    def conforming(self) -> bool:
        return all(m.conforming is not False for m in self.values.values())


def unit_rows(measurements: list[RecordedMeasurement]) -> list[UnitRow]:
    """Measurements (newest first) as one row per unit, newest unit first."""
    rows: dict[tuple[Any, ...], UnitRow] = {}
    for m in measurements:
        key = (m.unit_serial,) if m.unit_serial else (None, m.measured_at)
        row = rows.setdefault(key, UnitRow(m.unit_serial, m.subgroup, m.measured_at, {}))
        row.values.setdefault(m.characteristic_id, m)  # a unit measured again: the newest
        if row.subgroup is None:
            row.subgroup = m.subgroup
    return list(rows.values())


@dataclass(frozen=True)
class RecordedDefect:
    id: int
    code: str
    name: str
    severity: str
    count: int
    location: str | None
    note: str | None
    unit_serial: str | None


@dataclass
class InspectionPanel:
    inspection: dict[str, Any]  # as the inspection API gives it
    shown: Shown
    kind_label: str
    lot: Lot
    part: Part
    plan: SamplingPlan
    to_measure: list[ToMeasure]
    measurements: list[RecordedMeasurement]
    defects: list[RecordedDefect]
    catalogue: list[DefectType]
    units_measured: int
    measurement_entry: Entry
    defect_entry: Entry
    problem: str | None = None  # what a refused action said (an illegal transition)
    done: str | None = None  # what an action did

    @property
    def state(self) -> str:
        return str(self.inspection["state"])

    @property
    def recording(self) -> bool:
        return self.state == IN_PROGRESS

    @property
    def startable(self) -> bool:
        return self.state == PLANNED

    @property
    def cancellable(self) -> bool:
        return self.state in (PLANNED, IN_PROGRESS)

    @property
    def completed(self) -> bool:
        return self.state == COMPLETED

    @property
    def units(self) -> list[UnitRow]:
        return unit_rows(self.measurements)

    @property
    def severities(self) -> tuple[str, ...]:
        return SEVERITIES


def to_measure(characteristic: Characteristic) -> ToMeasure:
    decimals = decimals_for(characteristic.lsl, characteristic.usl)
    if characteristic.kind == "attribute":
        spec = "nonconformities on the unit (0 = good)"
    else:
        spec = spec_text(
            characteristic.lsl,
            characteristic.usl,
            characteristic.target,
            characteristic.unit,
            decimals,
        )
    return ToMeasure(
        characteristic.id,
        characteristic.name,
        characteristic.kind,
        characteristic.unit,
        characteristic.lsl,
        characteristic.usl,
        characteristic.target,
        decimals,
        spec,
    )


async def load_panel(
    session: AsyncSession,
    inspection_id: int,
    measurement_entry: Entry | None = None,
    defect_entry: Entry | None = None,
) -> InspectionPanel:
    document = await inspections.get_inspection(session, inspection_id)
    lot = await records.get_lot(session, document["lot_id"])
    part = await records.get_part(session, lot.part_id)
    characteristics = await records.list_characteristics(session, part.id, None, 1000)
    measuring = {c.id: to_measure(c) for c in characteristics}
    measurements = await _measurements(session, inspection_id, measuring)
    if measurement_entry is None:
        # Coming back to an inspection: the unit after the last one measured is next.
        last = next((m.unit_serial for m in measurements if m.unit_serial), None)
        measurement_entry = Entry(values={"unit_serial": next_serial(last) if last else ""})
    return InspectionPanel(
        inspection=document,
        shown=inspection_shown(document["state"], document["disposition"]),
        kind_label=KINDS.get(document["kind"], document["kind"]),
        lot=lot,
        part=part,
        plan=plan_for(lot.quantity, part.aql),
        to_measure=sorted(measuring.values(), key=lambda c: (c.kind != "variable", c.name)),
        measurements=measurements,
        defects=await _defects(session, inspection_id),
        catalogue=list(await session.scalars(select(DefectType).order_by(DefectType.name))),
        units_measured=await _units_measured(session, inspection_id),
        measurement_entry=measurement_entry,
        defect_entry=defect_entry or Entry(),
    )


async def _measurements(
    session: AsyncSession, inspection_id: int, measuring: dict[int, ToMeasure]
) -> list[RecordedMeasurement]:
    query = (
        select(Measurement)
        .where(Measurement.inspection_id == inspection_id)
        .order_by(Measurement.id.desc())
        .limit(SHOWN_RECORDS)
    )
    shown = []
    for row in await session.scalars(query):
        spec = measuring.get(row.characteristic_id)
        shown.append(
            RecordedMeasurement(
                id=row.id,
                characteristic=spec.name if spec else f"characteristic {row.characteristic_id}",
                characteristic_id=row.characteristic_id,
                value=fixed(row.value, spec.decimals if spec else 3),
                unit=spec.unit if spec else None,
                unit_serial=row.unit_serial,
                subgroup=row.subgroup,
                conforming=row.conforming,
                measured_at=row.measured_at,
            )
        )
    return shown


async def _defects(session: AsyncSession, inspection_id: int) -> list[RecordedDefect]:
    query = (
        select(Defect, DefectType.name)
        .outerjoin(DefectType, DefectType.code == Defect.defect_type)
        .where(Defect.inspection_id == inspection_id)
        .order_by(Defect.id.desc())
        .limit(SHOWN_RECORDS)
    )
    return [
        RecordedDefect(
            d.id,
            d.defect_type,
            name or d.defect_type,
            d.severity,
            d.count,
            d.location,
            d.note,
            d.unit_serial,
        )
        for d, name in await session.execute(query)
    ]


async def _units_measured(session: AsyncSession, inspection_id: int) -> int:
    """Distinct unit serials measured (a measurement without a serial is a unit of its own)."""
    serials = await session.scalar(
        select(func.count(func.distinct(Measurement.unit_serial))).where(
            Measurement.inspection_id == inspection_id, Measurement.unit_serial.is_not(None)
        )
    )
    unmarked = await session.scalar(
        select(func.count()).where(
            Measurement.inspection_id == inspection_id, Measurement.unit_serial.is_(None)
        )
    )
    return int(serials or 0) + int(unmarked or 0)


async def characteristic_ids(session: AsyncSession, inspection_id: int) -> list[int]:
    """The characteristics an inspection measures: its lot's part's (404 without the inspection)."""
    inspection = await inspections.load_inspection(session, inspection_id)
    query = (
        select(Characteristic.id)
        .join(Lot, Lot.part_id == Characteristic.part_id)
        .where(Lot.id == inspection.lot_id)
        .order_by(Characteristic.id)
    )
    return list(await session.scalars(query))
