"""Quality analytics over lots and their inspections: the defect Pareto, first-pass yield and
rolled throughput yield, for the lots made at or under a plant path (a lot's ``line``).

Definitions (also in the endpoints' descriptions):

- **Pareto**: the defects recorded in [start, end) on inspections that were not cancelled,
  summed by defect type (their ``count``), largest first (ties by code), each with its percent
  of the total and the cumulative percent.
- **First-pass yield (FPY)** of a set of lots: the lots whose *first* completed inspection
  accepted them, divided by the lots inspected. A lot counts when its first completed
  inspection was completed in [start, end); a lot rejected, reworked or held first and
  accepted later is not a first pass. A lot's ``unit_yield`` is the share of its first sample
  that was conforming, (sample_size - nonconforming units) / sample_size.
- **Steps** of a line: the distinct ``line`` paths of the lots at or under it (each cell or
  station the lots were recorded at, the line itself if lots were recorded there).
- **Rolled throughput yield (RTY)** of a line: the product of its steps' first-pass yields,
  the chance that a lot passes every step the first time. Only with ``under``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.quality.models import CANCELLED, COMPLETED, Defect, DefectType, Inspection, Lot
from shopfloor.quality.records import at_or_under

MAX_LISTED_LOTS = 1000


async def pareto(
    session: AsyncSession,
    under: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """``{items: [{defect_type, name, count, percent, cumulative_percent}], total}``."""
    total_count = func.sum(Defect.count)
    query = (
        select(Defect.defect_type, total_count)
        .join(Inspection, Inspection.id == Defect.inspection_id)
        .join(Lot, Lot.id == Inspection.lot_id)
        .where(Inspection.state != CANCELLED)
        .group_by(Defect.defect_type)
    )
    if under is not None:
        query = query.where(at_or_under(Lot.line, under))
    if start is not None:
        query = query.where(Defect.created_at >= start)
    if end is not None:
        query = query.where(Defect.created_at < end)
    counts = [(code, int(count)) for code, count in (await session.execute(query))]
    counts.sort(key=lambda pair: (-pair[1], pair[0]))
    codes = [code for code, _ in counts]
    found = await session.execute(
        select(DefectType.code, DefectType.name).where(DefectType.code.in_(codes))
    )
    names = dict(found.all())
    total = sum(count for _, count in counts)
    items, running = [], 0
    for code, count in counts:
        running += count
        items.append(
            {
                "defect_type": code,
                "name": names.get(code, code),
                "count": count,
                "percent": round(100.0 * count / total, 2),
                # From the running count, not by adding rounded percents: the last is 100.
                "cumulative_percent": round(100.0 * running / total, 2),
            }
        )
    return {"items": items, "total": total}


@dataclass
class _Tally:
    lots: int = 0
    first_pass: int = 0
    sampled: int = 0
    nonconforming: int = 0

    def add(self, lot: dict[str, Any]) -> None:
        self.lots += 1
        self.first_pass += lot["first_pass"]
        self.sampled += lot["sampled"]
        self.nonconforming += lot["nonconforming_units"]

    @property
    def first_pass_yield(self) -> float | None:
        return self.first_pass / self.lots if self.lots else None

    def document(self) -> dict[str, Any]:
        return {
            "lots_inspected": self.lots,
            "lots_first_pass": self.first_pass,
            "first_pass_yield": self.first_pass_yield,
            "units_sampled": self.sampled,
            "units_nonconforming": self.nonconforming,
            "unit_yield": _unit_yield(self.sampled, self.nonconforming),
        }


def _unit_yield(sampled: int, nonconforming: int) -> float | None:
    # A major defect without a serial counts units of its own, so more than the sample
    # can be nonconforming: the yield stops at 0.
    return max(0.0, (sampled - nonconforming) / sampled) if sampled else None


async def _first_inspections(
    session: AsyncSession, under: str | None, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    """Each lot's first completed inspection, when that was completed in [start, end)."""
    query = (
        select(Inspection, Lot)
        .join(Lot, Lot.id == Inspection.lot_id)
        .where(Inspection.state == COMPLETED)
        .order_by(Inspection.lot_id, Inspection.completed_at, Inspection.id)
    )
    if under is not None:
        query = query.where(at_or_under(Lot.line, under))
    if end is not None:  # a first inspection at or after end leaves no earlier one out
        query = query.where(Inspection.completed_at < end)
    firsts: dict[int, dict[str, Any]] = {}
    for inspection, lot in await session.execute(query):
        if lot.id in firsts:
            continue
        completed_at = inspection.completed_at
        firsts[lot.id] = {
            "lot_id": lot.id,
            "lot_number": lot.lot_number,
            "part_id": lot.part_id,
            "line": lot.line,
            "inspection_id": inspection.id,
            "completed_at": completed_at,
            "disposition": inspection.disposition,
            "first_pass": inspection.disposition == "accept",
            "sampled": inspection.sample_size,
            "nonconforming_units": inspection.nonconforming_units or 0,
            "unit_yield": _unit_yield(inspection.sample_size, inspection.nonconforming_units or 0),
        }
    return [
        lot
        for lot in firsts.values()
        if start is None or (lot["completed_at"] is not None and lot["completed_at"] >= start)
    ]


async def yields(
    session: AsyncSession,
    under: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """First-pass yield overall, per lot and per line (step); RTY of the line ``under``."""
    lots = await _first_inspections(session, under, start, end)
    overall = _Tally()
    per_line: dict[str, _Tally] = {}
    for lot in lots:
        overall.add(lot)
        if lot["line"] is not None:
            per_line.setdefault(lot["line"], _Tally()).add(lot)
    lines = [{"line": line, **per_line[line].document()} for line in sorted(per_line)]
    rty = None
    if under is not None and lines:
        rty = math.prod(line["first_pass_yield"] for line in lines)
    lots.sort(key=lambda lot: (lot["completed_at"], lot["lot_id"]), reverse=True)
    return {
        "under": under,
        **overall.document(),
        "lines": lines,
        "rolled_throughput_yield": rty,
        "steps": [line["line"] for line in lines] if under is not None else [],
        "lots": lots[:MAX_LISTED_LOTS],
        "lots_truncated": len(lots) > MAX_LISTED_LOTS,
    }
