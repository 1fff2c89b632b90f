"""The demo's quality records: two parts with their characteristics, a month of lots with
completed inspections (measurements and defects), and a few lots still to inspect.

Everything goes through the quality services, as inspectors would record it through the API:
``seed_quality`` adds the records once (nothing when the first part exists already), and the
measurements it records are published as ``quality.measured`` like any others, so the SPC
stage judges them. The processes are simulated with a fixed seed: the brake bracket's hole
drifts upwards in the last lots (the SPC chart flags it), its defects follow a Pareto-like mix,
and the pump housing's bore is measured in subgroups of five (an X̄-R chart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth.context import Acting, acting_as
from shopfloor.core.clock import utcnow
from shopfloor.quality import inspections, recording, records
from shopfloor.quality.events import PendingEvent
from shopfloor.quality.models import Part
from shopfloor.quality.sampling import plan_for
from shopfloor.quality.schemas import (
    CharacteristicCreate,
    DefectIn,
    DefectTypeCreate,
    InspectionCreate,
    LotCreate,
    MeasurementIn,
    PartCreate,
)
from shopfloor.storage import Database

QUALITY_SEED = 20_240_611
HISTORY_DAYS = 30
UNITS_MEASURED = 5  # per lot and characteristic: one subgroup
INSPECTORS = ("inspector", "quality")


@dataclass(frozen=True)
class CharacteristicSpec:
    name: str
    unit: str | None
    lsl: float | None
    usl: float | None
    target: float | None
    mean: float
    sigma: float
    drift: float = 0.0  # in sigma, reached by the last lot, starting at ``drift_from``
    drift_from: float = 1.0  # share of the lots after which the drift begins
    subgroups: bool = False
    kind: str = "variable"


@dataclass(frozen=True)
class PartSpec:
    part_number: str
    name: str
    revision: str
    line: str
    lot_prefix: str
    lots: int
    characteristics: tuple[CharacteristicSpec, ...]
    defects: dict[str, float]  # code → expected count per lot
    kind: str = "final"


@dataclass(frozen=True)
class DefectSpec:
    code: str
    name: str
    severity: str
    locations: tuple[str, ...] = ()


DEFECT_TYPES = (
    DefectSpec("burr", "Burr", "minor", ("punched hole", "outer edge", "slot")),
    DefectSpec("scratch", "Surface scratch", "minor", ("flange face", "top face")),
    DefectSpec("dent", "Dent", "major", ("flange", "corner")),
    DefectSpec("hole-misaligned", "Misaligned hole", "major", ("mounting hole",)),
    DefectSpec("crack", "Crack", "critical", ("bend radius",)),
    DefectSpec("porosity", "Casting porosity", "major", ("bore wall", "sealing face")),
    DefectSpec("thread-damage", "Damaged thread", "major", ("M8 port", "M6 flange holes")),
    DefectSpec("paint-run", "Paint run", "minor", ("housing cover",)),
    DefectSpec("oring-missing", "O-ring missing", "major", ("outlet port",)),
)

PARTS = (
    PartSpec(
        "BRK-1042", "Brake bracket", "C", "acme/stamping/line-1", "L-BRK-", 26,
        (
            CharacteristicSpec("hole diameter", "mm", 8.45, 8.55, 8.50, 8.5015, 0.0095,
                               drift=1.6, drift_from=0.75),
            CharacteristicSpec("flange height", "mm", 11.90, 12.10, 12.00, 12.004, 0.021),
            CharacteristicSpec("flatness", "mm", None, 0.15, None, 0.062, 0.017),
        ),
        {"burr": 1.3, "scratch": 0.75, "dent": 0.35, "hole-misaligned": 0.22, "crack": 0.03},
    ),
    PartSpec(
        "HSG-220", "Pump housing", "B", "acme/assembly/line-2", "L-HSG-", 18,
        (
            CharacteristicSpec("bore diameter", "mm", 41.975, 42.025, 42.000, 42.002, 0.0062,
                               subgroups=True),
            CharacteristicSpec("leak test", None, None, None, None, 0.06, 0.0, kind="attribute"),
        ),
        {"porosity": 0.6, "thread-damage": 0.3, "paint-run": 0.45, "oring-missing": 0.12},
    ),
)  # fmt: skip


@dataclass
class QualitySeed:
    parts: int = 0
    lots: int = 0
    inspections: int = 0
    measurements: int = 0
    events: list[PendingEvent] = field(default_factory=list)


async def seed_quality(db: Database, now: datetime | None = None) -> QualitySeed:
    """Record the demo's parts, lots and inspections unless the first part exists already."""
    report = QualitySeed()
    now = now or utcnow()
    with acting_as(Acting(actor="system:demo", source="demo", operation="demo quality records")):
        async with db.write() as session:
            if await session.scalar(
                select(Part.id).where(Part.part_number == PARTS[0].part_number)
            ):
                return report
            await _catalogue(session)
            rng = np.random.default_rng(QUALITY_SEED)
            for spec in PARTS:
                await _part(session, spec, rng, now, report)
    return report


async def _catalogue(session: AsyncSession) -> None:
    for defect in DEFECT_TYPES:
        await records.create_defect_type(
            session,
            DefectTypeCreate(code=defect.code, name=defect.name, default_severity=defect.severity),
        )


async def _part(
    session: AsyncSession,
    spec: PartSpec,
    rng: np.random.Generator,
    now: datetime,
    report: QualitySeed,
) -> None:
    part = await records.create_part(
        session, PartCreate(part_number=spec.part_number, name=spec.name, revision=spec.revision)
    )
    report.parts += 1
    ids = {}
    for c in spec.characteristics:
        created = await records.create_characteristic(
            session,
            CharacteristicCreate(
                part_id=part.id, name=c.name, unit=c.unit, kind=c.kind, lsl=c.lsl, usl=c.usl,
                target=c.target,
            ),
        )  # fmt: skip
        ids[c.name] = created.id
    # The last lots: one being inspected now, one planned, two waiting.
    for number in range(spec.lots + 4):
        quantity = int(rng.integers(180, 480))
        lot = await records.create_lot(
            session,
            LotCreate(
                lot_number=f"{spec.lot_prefix}{2400 + number}", part_id=part.id,
                quantity=quantity, line=spec.line,
            ),
        )  # fmt: skip
        report.lots += 1
        if number >= spec.lots + 2:
            continue
        when = now - timedelta(days=HISTORY_DAYS * (1 - number / (spec.lots + 2)))
        inspector = INSPECTORS[number % len(INSPECTORS)]
        sample = min(plan_for(quantity, part.aql).sample_size, quantity)
        created = await inspections.create_inspection(
            session, InspectionCreate(lot_id=lot.id, kind=spec.kind, sample_size=sample), inspector
        )
        report.inspections += 1
        if number == spec.lots + 1:
            continue  # planned, not started
        await inspections.start(session, created["id"], inspector)
        progress = number / max(1, spec.lots - 1)
        units = 2 if number == spec.lots else UNITS_MEASURED
        items = _measurements(spec, ids, rng, progress, units, number, when)
        _, events = await recording.add_measurements(session, created["id"], items, [])
        report.measurements += len(items)
        report.events.extend(events)
        if number == spec.lots:
            continue  # in progress
        defects = _defects(spec, rng, number)
        if defects:
            await recording.add_defects(session, created["id"], defects, [])
        await inspections.complete(session, created["id"])


def _measurements(
    spec: PartSpec,
    ids: dict[str, int],
    rng: np.random.Generator,
    progress: float,
    units: int,
    number: int,
    when: datetime,
) -> list[MeasurementIn | None]:
    items: list[MeasurementIn | None] = []
    for unit in range(units):
        serial = f"{spec.part_number[:3]}-{number:03d}-{unit + 1:02d}"
        at = when + timedelta(minutes=4 * unit)
        for c in spec.characteristics:
            if c.kind == "attribute":
                value = float(rng.random() < c.mean)
            else:
                shift = (
                    c.drift * max(0.0, (progress - c.drift_from) / (1 - c.drift_from))
                    if c.drift
                    else 0.0
                )
                value = round(float(rng.normal(c.mean + shift * c.sigma, c.sigma)), 4)
            items.append(
                MeasurementIn(
                    characteristic_id=ids[c.name], value=value, unit_serial=serial,
                    subgroup=1 if c.subgroups else None, measured_at=at,
                )
            )  # fmt: skip
    return items


def _defects(spec: PartSpec, rng: np.random.Generator, number: int) -> list[DefectIn | None]:
    found: list[DefectIn | None] = []
    kinds = {d.code: d for d in DEFECT_TYPES}
    for code, rate in spec.defects.items():
        count = int(rng.poisson(rate))
        if count == 0:
            continue
        defect = kinds[code]
        location = (
            defect.locations[int(rng.integers(len(defect.locations)))] if defect.locations else None
        )
        found.append(DefectIn(defect_type=code, count=count, location=location))
    return found
