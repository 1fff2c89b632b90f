"""SPC of a characteristic's measurements: control charts, the limits frozen for phase II, and
capability. Takes a session, never commits; the pure calculations are ``quality.spc``.

How measurements become chart points (in measurement time order: ``measured_at``, then id):

- **Variables** characteristics: ``imr`` plots every value. ``xbar_r`` / ``xbar_s`` plot
  subgroups: the measurements' ``subgroup`` numbers, which count within an inspection (a
  subgroup is one (inspection, subgroup) pair, in order of its first measurement), else runs of
  ``subgroup_size`` consecutive values. Every subgroup of a chart has the same size: the size of
  the stored limits, else the most common one; subgroups of another size (one still being
  measured) are left out, with a note.
- **Attribute** characteristics: one point per inspection. Each measurement is one inspected
  unit and its ``value`` the number of nonconformities found on it (0 = a good unit; a 0/1 entry
  per unit is the simplest case). ``p`` / ``np`` chart the nonconforming units (value > 0) of
  each inspection's sample, ``c`` the nonconformities per inspection, ``u`` the
  nonconformities per unit inspected. The sample size n of an inspection is its
  ``sample_size`` (units not entered count as good), or the units entered when there are more.

The default chart is the one whose limits are stored (the latest, when several are); else
``p`` for attribute data, ``xbar_r`` when measurements have subgroups (or ``subgroup_size`` >
1 is asked for), else ``imr``. A ``point`` of a chart is ``(index, value)`` with index from 1;
``Built.members`` maps each point back to its measurements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import utcnow
from shopfloor.quality.models import Characteristic, Inspection, Lot, Measurement, SpcLimits
from shopfloor.quality.spc import (
    ALL,
    ATTRIBUTE_CHARTS,
    VARIABLES_CHARTS,
    Capability,
    ChartResult,
    FrozenLimits,
    SpcInputError,
    capability,
    compute_chart,
    evaluate_chart,
)
from shopfloor.quality.spc.rules import Violation

DISPERSION_RULES = ("WE1", "N1")  # run rules do not apply to (correlated) ranges
_INSERTS = {"postgresql": pg_insert, "sqlite": sqlite_insert}


@dataclass
class Series:
    """A characteristic's measurements in time order, column by column."""

    ids: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    subgroups: list[int | None] = field(default_factory=list)
    inspections: list[int] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    lines: list[str | None] = field(default_factory=list)
    sample_sizes: dict[int, int] = field(default_factory=dict)  # inspection → planned sample

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_subgroups(self) -> bool:
        return any(subgroup is not None for subgroup in self.subgroups)


@dataclass
class Built:
    """A chart of a characteristic, with each point's measurements and time."""

    kind: str
    chart: ChartResult
    members: list[list[int]]  # per point: positions in the series
    times: list[datetime]  # per point: its last measurement's time
    subgroup_size: int
    sample_sizes: list[float] | None = None  # attribute charts: n per point
    stored: SpcLimits | None = None  # the limits judged against (phase II)
    notes: list[str] = field(default_factory=list)

    def violations(self, rules: Sequence[str] = ALL) -> list[Violation]:
        return evaluate_chart(self.chart, rules)

    def dispersion_violations(self) -> list[Violation]:
        if self.chart.dispersion is None:
            return []
        return evaluate_chart(self.chart.dispersion, DISPERSION_RULES)


async def load_series(session: AsyncSession, characteristic_id: int) -> Series:
    rows = await session.execute(
        select(
            Measurement.id,
            Measurement.value,
            Measurement.subgroup,
            Measurement.inspection_id,
            Measurement.measured_at,
            Lot.line,
            Inspection.sample_size,
        )
        .join(Inspection, Inspection.id == Measurement.inspection_id)
        .join(Lot, Lot.id == Inspection.lot_id)
        .where(Measurement.characteristic_id == characteristic_id)
        .order_by(Measurement.measured_at, Measurement.id)
    )
    series = Series()
    for row_id, value, subgroup, inspection, at, line, sample_size in rows.all():
        series.ids.append(row_id)
        series.values.append(value)
        series.subgroups.append(subgroup)
        series.inspections.append(inspection)
        series.times.append(at)
        series.lines.append(line)
        series.sample_sizes[inspection] = sample_size
    return series


# --- charts ------------------------------------------------------------------------------


def default_chart(
    characteristic: Characteristic,
    series: Series,
    stored: dict[str, SpcLimits],
    subgroup_size: int | None = None,
) -> str:
    fitting = [row for row in stored.values() if row.chart in charts_for(characteristic)]
    if fitting:
        return max(fitting, key=lambda row: row.computed_at).chart
    if characteristic.kind == "attribute":
        return "p"
    if series.has_subgroups or (subgroup_size or 1) > 1:
        return "xbar_r"
    return "imr"


def charts_for(characteristic: Characteristic) -> tuple[str, ...]:
    return ATTRIBUTE_CHARTS if characteristic.kind == "attribute" else VARIABLES_CHARTS


def build(
    characteristic: Characteristic,
    series: Series,
    kind: str,
    *,
    subgroup_size: int | None = None,
    baseline: int | None = None,
    stored: SpcLimits | None = None,
) -> Built:
    """The ``kind`` chart of the series: phase I (limits from the first ``baseline`` points,
    or all), or phase II against ``stored`` limits. SpcInputError explains unusable input."""
    if kind not in charts_for(characteristic):
        raise SpcInputError(
            f"{kind!r} does not chart {characteristic.kind} data; choose one of "
            f"{', '.join(charts_for(characteristic))}",
            field="chart",
        )
    frozen = None
    if stored is not None:
        frozen = _frozen(stored, kind)
        if kind in ("xbar_r", "xbar_s"):
            if subgroup_size not in (None, stored.subgroup_size):
                raise SpcInputError(
                    f"the stored {kind} limits are for subgroups of {stored.subgroup_size}, not "
                    f"{subgroup_size}: recompute them (POST …/limits) or delete them",
                    field="subgroup_size",
                )
            subgroup_size = stored.subgroup_size
    if kind in ATTRIBUTE_CHARTS:
        built = _attribute(kind, series, baseline, frozen)
    elif kind == "imr":
        chart = compute_chart("imr", series.values, baseline=baseline, frozen=frozen)
        built = Built(kind, chart, chart.members, [], 1)
    elif series.has_subgroups:
        built = _labelled(kind, series, subgroup_size, baseline, frozen, stored)
    else:
        chart = compute_chart(
            kind, series.values, subgroup_size=subgroup_size, baseline=baseline, frozen=frozen
        )
        built = Built(kind, chart, chart.members, [], len(chart.members[0]))
    built.times = [max(series.times[i] for i in group) for group in built.members]
    built.stored = stored
    return built


def _labelled(
    kind: str,
    series: Series,
    subgroup_size: int | None,
    baseline: int | None,
    frozen: FrozenLimits | None,
    stored: SpcLimits | None,
) -> Built:
    """X̄ charts of (inspection, subgroup) groups of one size."""
    groups: dict[Hashable, list[int]] = {}
    for position, (inspection, subgroup) in enumerate(
        zip(series.inspections, series.subgroups, strict=True)
    ):
        if subgroup is not None:
            groups.setdefault((inspection, subgroup), []).append(position)
    sizes = Counter(len(group) for group in groups.values())
    size = stored.subgroup_size if stored is not None else max(sizes, key=lambda s: (sizes[s], s))
    kept = [group for group in groups.values() if len(group) == size]
    notes = []
    if len(kept) < len(groups):
        notes.append(
            f"{len(groups) - len(kept)} subgroup(s) without {size} values (still being "
            "measured, or incomplete) are left out"
        )
    if (unlabelled := series.subgroups.count(None)) > 0:
        notes.append(f"{unlabelled} measurement(s) without a subgroup are left out")
    order = [position for group in kept for position in group]
    labels = [(series.inspections[p], series.subgroups[p]) for p in order]
    chart = compute_chart(
        kind,
        [series.values[p] for p in order],
        subgroups=labels,
        subgroup_size=subgroup_size,
        baseline=baseline,
        frozen=frozen,
    )
    members = [[order[i] for i in group] for group in chart.members]
    return Built(kind, chart, members, [], size, notes=notes)


def _attribute(
    kind: str, series: Series, baseline: int | None, frozen: FrozenLimits | None
) -> Built:
    """One point per inspection: its nonconforming units (p, np) or nonconformities (c, u)."""
    groups: dict[int, list[int]] = {}
    for position, (inspection, value) in enumerate(
        zip(series.inspections, series.values, strict=True)
    ):
        if value < 0:
            raise SpcInputError(
                f"measurement {series.ids[position]} has the value {value:g}; attribute data "
                "count nonconformities per unit (0 for a good unit)",
                field="values",
                index=position,
            )
        groups.setdefault(inspection, []).append(position)
    members = list(groups.values())
    if kind in ("p", "np"):
        counts = [float(sum(series.values[p] > 0 for p in group)) for group in members]
    else:
        counts = [float(sum(series.values[p] for p in group)) for group in members]
    sizes = [
        float(max(series.sample_sizes[inspection], len(group)))
        for inspection, group in groups.items()
    ]
    chart = compute_chart(
        kind, counts, sample_sizes=None if kind == "c" else sizes, baseline=baseline, frozen=frozen
    )
    size = round(sum(sizes) / len(sizes)) if sizes else 0
    return Built(kind, chart, members, [], size, sample_sizes=sizes)


def _frozen(row: SpcLimits, kind: str) -> FrozenLimits:
    if kind in ATTRIBUTE_CHARTS:
        # p and u limits vary with each sample's size, so they are derived from the centre.
        return FrozenLimits(center=row.center)
    if row.dispersion_center is None:
        raise SpcInputError(
            f"the stored {kind} limits have no dispersion centre line; recompute them",
            field="chart",
        )
    spread = FrozenLimits(row.dispersion_center, row.dispersion_ucl, row.dispersion_lcl)
    return FrozenLimits(row.center, row.ucl, row.lcl, spread)


# --- limits frozen for phase II ----------------------------------------------------------


async def stored_limits(session: AsyncSession, characteristic_id: int) -> dict[str, SpcLimits]:
    rows = await session.scalars(
        select(SpcLimits).where(SpcLimits.characteristic_id == characteristic_id)
    )
    return {row.chart: row for row in rows}


async def save_limits(session: AsyncSession, characteristic_id: int, built: Built) -> SpcLimits:
    """Store ``built``'s (phase I) limits for its chart, replacing any stored before."""
    chart, spread = built.chart, built.chart.dispersion
    values: dict[str, Any] = {
        "subgroup_size": built.subgroup_size,
        "center": chart.center,
        "ucl": chart.ucl,
        "lcl": chart.lcl,
        "dispersion_center": None if spread is None else spread.center,
        "dispersion_ucl": None if spread is None else spread.ucl,
        "dispersion_lcl": None if spread is None else spread.lcl,
        "baseline_count": chart.baseline_count,
        "computed_at": utcnow(),
    }
    insert = _INSERTS[session.get_bind().dialect.name]
    statement = (
        insert(SpcLimits)
        .values(characteristic_id=characteristic_id, chart=built.kind, **values)
        .on_conflict_do_update(index_elements=["characteristic_id", "chart"], set_=values)
    )
    await session.execute(statement)
    row = await session.scalar(
        select(SpcLimits)
        .where(SpcLimits.characteristic_id == characteristic_id, SpcLimits.chart == built.kind)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def forget_limits(session: AsyncSession, characteristic_id: int, chart: str | None) -> int:
    """Delete the stored limits of one chart (or all); how many were stored."""
    statement = delete(SpcLimits).where(SpcLimits.characteristic_id == characteristic_id)
    if chart is not None:
        statement = statement.where(SpcLimits.chart == chart)
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- capability --------------------------------------------------------------------------


@dataclass
class CapabilityStudy:
    result: Capability
    chart: str
    in_control: bool
    broken_rules: list[str]


def capability_study(
    characteristic: Characteristic, series: Series, subgroup_size: int | None = None
) -> CapabilityStudy:
    """Cp/Cpk and Pp/Ppk of every value; sigma within from the I-MR chart (X̄-R with
    subgroups), whose rules (all of them on the X chart, beyond-limits on the dispersion
    chart, limits from all points) say whether the process is in control."""
    if characteristic.kind != "variable":
        raise SpcInputError(
            "capability needs variables data; this characteristic is an attribute",
            field="characteristic_id",
        )
    kind = "xbar_r" if series.has_subgroups or (subgroup_size or 1) > 1 else "imr"
    built = build(characteristic, series, kind, subgroup_size=subgroup_size)
    broken = sorted({v.rule for v in built.violations() + built.dispersion_violations()})
    result = capability(
        series.values,
        characteristic.lsl,
        characteristic.usl,
        sigma_within=built.chart.sigma_within,
        in_control=not broken,
    )
    result.warnings[:0] = built.chart.notes + built.notes
    return CapabilityStudy(result, kind, not broken, broken)
