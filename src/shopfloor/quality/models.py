"""Quality records: parts and their characteristics, lots, the defect catalogue, inspections
with their measurements and defects, and the frozen SPC limits of characteristics.

An inspection's life (``inspections.py`` drives it):

    planned ──start──> in_progress ──complete──> completed (with a disposition)
       │                    │
       └──cancel──> cancelled <──cancel──┘

Measurements and defects are recorded only while ``in_progress``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.core.clock import utcnow
from shopfloor.storage.base import Base, JsonDocument, PathString

CHARACTERISTIC_KINDS = ("variable", "attribute")
INSPECTION_KINDS = ("incoming", "in_process", "final")
PLANNED, IN_PROGRESS, COMPLETED, CANCELLED = "planned", "in_progress", "completed", "cancelled"
INSPECTION_STATES = (PLANNED, IN_PROGRESS, COMPLETED, CANCELLED)
SEVERITIES = ("minor", "major", "critical")
DISPOSITIONS = ("accept", "reject", "rework", "hold")
DEFAULT_AQL = 1.0


class Part(Base):
    __tablename__ = "parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    part_number: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    revision: Mapped[str | None] = mapped_column(String(50))
    # The AQL (Z1.4, percent nonconforming) lots of this part are judged by for major
    # nonconformities.
    aql: Mapped[float] = mapped_column(Float, default=DEFAULT_AQL)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Characteristic(Base):
    """A measured feature of a part, with its specification limits (either may be open)."""

    __tablename__ = "characteristics"
    __table_args__ = (UniqueConstraint("part_id", "name", name="uq_characteristics_part_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="variable")
    lsl: Mapped[float | None] = mapped_column(Float)
    usl: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lot(Base):
    __tablename__ = "lots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_number: Mapped[str] = mapped_column(String(100), unique=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # Where it was made: an ISA-95 path (a line or a step of it), for yield and Pareto by line.
    line: Mapped[str | None] = mapped_column(PathString, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DefectType(Base):
    """The defect catalogue; a defect recorded with a new code adds it here."""

    __tablename__ = "defect_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_severity: Mapped[str] = mapped_column(String(16), default="minor")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Inspection(Base):
    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_lot_state", "lot_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    sample_size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=PLANNED)
    inspector: Mapped[str | None] = mapped_column(String(100))  # who started it
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column(index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column()
    disposition: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    quality_score: Mapped[float | None] = mapped_column(Float)
    # The Z1.4 plan the lot was judged by, and what was found, as decided at completion.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    nonconforming_units: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (
        # SPC reads a characteristic's measurements in time order.
        Index("ix_measurements_characteristic_measured", "characteristic_id", "measured_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), index=True
    )
    characteristic_id: Mapped[int] = mapped_column(
        ForeignKey("characteristics.id", ondelete="RESTRICT")
    )
    value: Mapped[float] = mapped_column(Float)
    unit_serial: Mapped[str | None] = mapped_column(String(100))
    subgroup: Mapped[int | None] = mapped_column(Integer)
    # Within [lsl, usl] as specified when measured; None when the characteristic has no limit.
    conforming: Mapped[bool | None] = mapped_column()
    measured_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Defect(Base):
    __tablename__ = "defects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), index=True
    )
    defect_type: Mapped[str] = mapped_column(String(50), index=True)  # a defect_types code
    severity: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer, default=1)
    location: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(2000))
    unit_serial: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SpcLimits(Base):
    """Phase-I control limits frozen for a characteristic's chart (written by the SPC API)."""

    __tablename__ = "spc_limits"
    __table_args__ = (
        UniqueConstraint("characteristic_id", "chart", name="uq_spc_limits_characteristic_chart"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    characteristic_id: Mapped[int] = mapped_column(
        ForeignKey("characteristics.id", ondelete="CASCADE")
    )
    chart: Mapped[str] = mapped_column(String(16))
    subgroup_size: Mapped[int] = mapped_column(Integer, default=1)
    center: Mapped[float] = mapped_column(Float)
    ucl: Mapped[float] = mapped_column(Float)
    lcl: Mapped[float] = mapped_column(Float)
    dispersion_center: Mapped[float | None] = mapped_column(Float)
    dispersion_ucl: Mapped[float | None] = mapped_column(Float)
    dispersion_lcl: Mapped[float | None] = mapped_column(Float)
    baseline_count: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
