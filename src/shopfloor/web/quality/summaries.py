"""Each characteristic at a glance, for the list of SPC charts: its default chart's last points
as a sparkline with the control limits, how many of them break a rule, and its Cpk."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.quality import records, spc_service
from shopfloor.quality.spc import SpcInputError
from shopfloor.web.quality.charts import CHART_LABELS
from shopfloor.web.quality.lists import CharacteristicRow
from shopfloor.web.quality.numbers import decimals_for, fixed

SPARK_POINTS = 30
SPARK_W, SPARK_H, SPARK_PAD = 180.0, 44.0, 4.0


@dataclass(frozen=True)
class Sparkline:
    line: str  # "x,y x,y …"
    flagged: list[tuple[float, float]]
    center: float
    ucl: float | None
    lcl: float | None
    width: float = SPARK_W
    height: float = SPARK_H


@dataclass
class CharacteristicSummary:
    row: CharacteristicRow
    count: int = 0
    chart: str | None = None
    last: str | None = None
    flagged: int = 0  # of the points in the sparkline
    cpk: float | None = None
    spark: Sparkline | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def chart_label(self) -> str:
        return CHART_LABELS.get(self.chart or "", "")


def sparkline(
    values: list[float], flagged: set[int], center: float, ucl: float | None, lcl: float | None
) -> Sparkline:
    """Positions 0…n-1 of ``values``; ``flagged`` positions are marked."""
    levels = [*values, center, *(v for v in (ucl, lcl) if v is not None)]
    low, high = min(levels), max(levels)
    span = (high - low) or 1.0

    def y(value: float) -> float:
        return round(SPARK_PAD + (SPARK_H - 2 * SPARK_PAD) * (1 - (value - low) / span), 2)

    step = (SPARK_W - 2 * SPARK_PAD) / max(1, len(values) - 1)
    xs = [round(SPARK_PAD + i * step, 2) for i in range(len(values))]
    return Sparkline(
        line=" ".join(f"{x},{y(v)}" for x, v in zip(xs, values, strict=True)),
        flagged=[(xs[i], y(values[i])) for i in sorted(flagged)],
        center=y(center),
        ucl=None if ucl is None else y(ucl),
        lcl=None if lcl is None else y(lcl),
    )


async def summarise(session: AsyncSession, row: CharacteristicRow) -> CharacteristicSummary:
    summary = CharacteristicSummary(row)
    characteristic = await records.get_characteristic(session, row.id)
    series = await spc_service.load_series(session, row.id)
    stored = await spc_service.stored_limits(session, row.id)
    summary.count = len(series)
    kind = spc_service.default_chart(characteristic, series, stored)
    summary.chart = kind
    try:
        built = spc_service.build(characteristic, series, kind, stored=stored.get(kind))
    except SpcInputError as exc:
        summary.problem = str(exc)
        return summary
    chart = built.chart
    shown = chart.points[-SPARK_POINTS:]
    first = shown[0].index
    broken = {v.index for v in built.violations() if v.index >= first}
    summary.flagged = len(broken)
    decimals = decimals_for(row.lsl, row.usl, series.values)
    summary.last = fixed(series.values[-1], decimals) if series.values else None
    varying = chart.point_limits is not None
    summary.spark = sparkline(
        [p.value for p in shown],
        {p.index - first for p in shown if p.index in broken},
        chart.center,
        None if varying else chart.ucl,
        None if varying else chart.lcl,
    )
    if characteristic.kind == "variable" and (row.lsl is not None or row.usl is not None):
        try:
            summary.cpk = spc_service.capability_study(characteristic, series).result.cpk
        except SpcInputError:
            summary.cpk = None
    return summary
