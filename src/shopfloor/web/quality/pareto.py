"""The defect Pareto chart, laid out on the server as SVG: bars by count, largest first, and
the cumulative percent as a line against a right-hand axis, with the 80 % mark.

The bars of the "vital few" (the types that together make up the first 80 % of the defects)
are drawn darker. Past ``MAX_BARS`` types, the rest share one "Other" bar at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_BARS = 12
WIDTH, HEIGHT = 880, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 18, 92
VITAL_SHARE = 80.0


@dataclass(frozen=True)
class Bar:
    label: str
    code: str | None  # None for "Other"
    count: int
    percent: float
    cumulative: float
    vital: bool
    x: float
    y: float
    width: float
    height: float
    centre: float
    line_y: float  # where the cumulative line passes over it


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class ParetoChart:
    bars: list[Bar]
    count_ticks: list[Tick]
    percent_ticks: list[Tick]
    line: str  # the cumulative line's points, "x,y x,y …"
    vital_y: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def nice_step(largest: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``ticks`` steps up to ``largest``."""
    if largest <= 0:
        return 1.0
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return max(1.0, multiple * power)
    return max(1.0, 10 * power)


def _grouped(items: list[dict[str, Any]], total: int) -> list[dict[str, Any]]:
    if len(items) <= MAX_BARS:
        return items
    kept, rest = items[: MAX_BARS - 1], items[MAX_BARS - 1 :]
    count = sum(item["count"] for item in rest)
    other = {
        "defect_type": None,
        "name": f"Other ({len(rest)} types)",
        "count": count,
        "percent": round(100.0 * count / total, 2) if total else 0.0,
        "cumulative_percent": 100.0,
    }
    return [*kept, other]


def pareto_chart(items: list[dict[str, Any]], total: int) -> ParetoChart | None:
    """The chart of ``analytics.pareto``'s items; None when there is nothing to draw."""
    if not items or total <= 0:
        return None
    shown = _grouped(items, total)
    plot_h = HEIGHT - BOTTOM - TOP
    plot_w = WIDTH - RIGHT - LEFT
    step = nice_step(max(item["count"] for item in shown))
    top_count = step * math.ceil(max(item["count"] for item in shown) / step)
    band = plot_w / len(shown)
    bar_w = band * 0.68

    def count_y(count: float) -> float:
        return TOP + plot_h * (1 - count / top_count)

    def percent_y(percent: float) -> float:
        return TOP + plot_h * (1 - percent / 100.0)

    bars, before = [], 0.0
    for position, item in enumerate(shown):
        centre = LEFT + band * (position + 0.5)
        y = count_y(item["count"])
        bars.append(
            Bar(
                label=item["name"],
                code=item["defect_type"],
                count=item["count"],
                percent=item["percent"],
                cumulative=item["cumulative_percent"],
                vital=before < VITAL_SHARE,
                x=round(centre - bar_w / 2, 2),
                y=round(y, 2),
                width=round(bar_w, 2),
                height=round(TOP + plot_h - y, 2),
                centre=round(centre, 2),
                line_y=round(percent_y(item["cumulative_percent"]), 2),
            )
        )
        before = item["cumulative_percent"]
    count_ticks = [
        Tick(round(count_y(value), 2), f"{value:g}") for value in _range(0.0, top_count, step)
    ]
    percent_ticks = [Tick(round(percent_y(p), 2), f"{p:g} %") for p in range(0, 101, 20)]
    line = " ".join(f"{bar.centre},{bar.line_y}" for bar in bars)
    return ParetoChart(bars, count_ticks, percent_ticks, line, round(percent_y(VITAL_SHARE), 2))


def _range(start: float, stop: float, step: float) -> list[float]:
    values, value = [], start
    while value <= stop + step / 1000:
        values.append(value)
        value += step
    return values
