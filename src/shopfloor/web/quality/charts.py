"""A characteristic's control chart as the SPC page draws it: the same chart the SPC API gives
(``spc_service.build`` and ``spc_api.chart_document``), the rule violations grouped by point,
the data the browser's chart script reads, and the capability study beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.quality import records, spc_service
from shopfloor.quality.models import Characteristic, Part
from shopfloor.quality.spc import SpcInputError
from shopfloor.quality.spc_api import chart_document
from shopfloor.quality.spc_service import Series
from shopfloor.web.quality.capability import CapabilityView, capability_view
from shopfloor.web.quality.numbers import decimals_for, spec_text

CHART_LABELS = {
    "imr": "I-MR",
    "xbar_r": "X̄-R",
    "xbar_s": "X̄-S",
    "p": "p",
    "np": "np",
    "c": "c",
    "u": "u",
}
CHART_TITLES = {
    "imr": "Individuals and moving range",
    "xbar_r": "Subgroup averages and ranges",
    "xbar_s": "Subgroup averages and standard deviations",
    "p": "Proportion nonconforming",
    "np": "Number of nonconforming units",
    "c": "Nonconformities per inspection",
    "u": "Nonconformities per unit",
}
PLOT_NAMES = {
    "imr": "Individual value",
    "xbar_r": "Subgroup average",
    "xbar_s": "Subgroup average",
    "p": "Proportion nonconforming",
    "np": "Nonconforming units",
    "c": "Nonconformities",
    "u": "Nonconformities per unit",
    "mr": "Moving range",
    "r": "Range",
    "s": "Standard deviation",
}
WINDOWS = (25, 50, 100, 250)  # points shown; 0 = all
DEFAULT_WINDOW = 100
OPEN_VIOLATIONS = 10  # the newest points listed openly; the others behind "earlier"


def fingerprint(count: int, last_id: int | None) -> str:
    """What a chart was drawn from: the live feed reports a new one when a measurement comes."""
    return f"{count}-{last_id or 0}"


@dataclass(frozen=True)
class Finding:
    rules: list[str]  # WE1 and N1 are the same test: one finding names both
    text: str


@dataclass(frozen=True)
class ViolationRow:
    """A point that breaks one rule or more."""

    plot: str  # the plot's name ("Individual value", "Moving range")
    index: int
    findings: list[Finding]
    value: float
    ts: str

    @property
    def rules(self) -> list[str]:
        return [rule for finding in self.findings for rule in finding.rules]


@dataclass(frozen=True)
class PointRow:
    """A point of the chart as the table under it lists it."""

    index: int
    value: float
    spread: float | None  # the dispersion chart's value at the same point
    n: float | None
    rules: list[str]
    ts: str


@dataclass
class ChartView:
    characteristic: Characteristic
    part: Part
    kinds: list[str]
    kind: str
    subgroup_size: int | None
    window: int
    decimals: int
    spec: str
    fingerprint: str
    count: int  # measurements of the characteristic
    document: dict[str, Any] | None = None  # as GET /spc gives it
    data: dict[str, Any] | None = None  # what spc.js draws
    violations: list[ViolationRow] = field(default_factory=list)
    problem: str | None = None  # why there is no chart
    notice: str | None = None  # about the request (a chart that does not fit)
    capability: CapabilityView | None = None
    capability_problem: str | None = None

    @property
    def title(self) -> str:
        return CHART_TITLES[self.kind]

    def label(self, kind: str) -> str:
        return CHART_LABELS.get(kind, kind)

    @property
    def point_rows(self) -> list[PointRow]:
        """The points shown, newest first."""
        if self.document is None:
            return []
        spread_plot = self.document["dispersion"]
        spread = {p["index"]: p["value"] for p in spread_plot["points"]} if spread_plot else {}
        rules: dict[int, list[str]] = {}
        for plot in (self.document, spread_plot):
            for v in plot["violations"] if plot else ():
                rules.setdefault(v["index"], []).append(v["rule"])
        return [
            PointRow(p["index"], p["value"], spread.get(p["index"]), p.get("n"),
                     rules.get(p["index"], []), p["ts"])
            for p in reversed(self.document["points"])
        ]  # fmt: skip

    @property
    def recent_violations(self) -> list[ViolationRow]:
        return self.violations[:OPEN_VIOLATIONS]

    @property
    def earlier_violations(self) -> list[ViolationRow]:
        return self.violations[OPEN_VIOLATIONS:]

    @property
    def plot_decimals(self) -> int:
        """Decimals of the plotted statistic: the values' for variables, four for proportions
        and rates, two for counts."""
        if self.kind in ("p", "u"):
            return 4
        if self.kind in ("np", "c"):
            return 2
        return self.decimals

    @property
    def last_point(self) -> dict[str, Any] | None:
        if self.document is None or not self.document["points"]:
            return None
        return self.document["points"][-1]


async def load_chart(
    session: AsyncSession,
    characteristic_id: int,
    kind: str | None,
    subgroup_size: int | None,
    window: int,
) -> ChartView:
    """The chart of ``kind`` (else the default chart, chosen as the SPC API chooses it)."""
    characteristic = await records.get_characteristic(session, characteristic_id)
    part = await records.get_part(session, characteristic.part_id)
    stored = await spc_service.stored_limits(session, characteristic_id)
    series = await spc_service.load_series(session, characteristic_id)
    kinds = list(spc_service.charts_for(characteristic))
    notice = None
    if kind is not None and kind not in kinds:
        notice = f"{kind!r} does not chart {characteristic.kind} data; showing the default chart."
        kind = None
    chosen = kind or spc_service.default_chart(characteristic, series, stored, subgroup_size)
    decimals = decimals_for(characteristic.lsl, characteristic.usl, series.values)
    view = ChartView(
        characteristic=characteristic,
        part=part,
        kinds=kinds,
        kind=chosen,
        subgroup_size=subgroup_size,
        window=window,
        decimals=decimals,
        spec=spec_text(
            characteristic.lsl,
            characteristic.usl,
            characteristic.target,
            characteristic.unit,
            decimals,
        ),
        fingerprint=fingerprint(len(series), max(series.ids, default=None)),
        count=len(series),
        notice=notice,
    )
    _chart(view, series, stored.get(chosen))
    _capability(view, series)
    return view


def _chart(view: ChartView, series: Series, stored: Any) -> None:
    try:
        built = spc_service.build(
            view.characteristic, series, view.kind, subgroup_size=view.subgroup_size, stored=stored
        )
    except SpcInputError as exc:
        view.problem = str(exc)
        return
    document = chart_document(view.characteristic.id, built, view.window or None)
    view.document = document
    view.data = chart_data(view, document)
    view.violations = _violation_rows(document)[::-1]  # the newest first


def _capability(view: ChartView, series: Series) -> None:
    characteristic = view.characteristic
    if characteristic.kind != "variable":
        return  # capability of attribute data is its average p or u, on the chart itself
    try:
        study = spc_service.capability_study(characteristic, series, view.subgroup_size)
    except SpcInputError as exc:
        view.capability_problem = str(exc)
        return
    view.capability = capability_view(
        study, characteristic.lsl, characteristic.usl, CHART_LABELS[study.chart]
    )
    if view.document is not None:  # the chart's own notes are said under the chart
        said = {note.lower() for note in view.document["notes"]}
        view.capability.notes = [n for n in view.capability.notes if n.lower() not in said]


def _violation_rows(document: dict[str, Any]) -> list[ViolationRow]:
    """The points of both plots that break a rule, by point (the main plot's first)."""
    rows: list[ViolationRow] = []
    for plot in (document, document["dispersion"]):
        if plot is None:
            continue
        name = PLOT_NAMES.get(plot["chart"], plot["chart"])
        points = {point["index"]: point for point in plot["points"]}
        found: dict[int, dict[str, list[str]]] = {}
        for violation in plot["violations"]:
            _, _, text = violation["description"].partition(": ")
            found.setdefault(violation["index"], {}).setdefault(text, []).append(violation["rule"])
        for index, texts in found.items():
            point = points.get(index, {"value": float("nan"), "ts": ""})
            findings = [Finding(rules, text) for text, rules in texts.items()]
            rows.append(ViolationRow(name, index, findings, point["value"], point["ts"]))
    main = PLOT_NAMES.get(document["chart"], document["chart"])
    return sorted(rows, key=lambda row: (row.index, row.plot != main))


def _plot_data(plot: dict[str, Any]) -> dict[str, Any]:
    points = plot["points"]
    flags: dict[int, list[str]] = {}
    for violation in plot["violations"]:
        flags.setdefault(violation["index"], []).append(violation["description"])
    varying = bool(points) and "ucl" in points[0]
    return {
        "name": PLOT_NAMES.get(plot["chart"], plot["chart"]),
        "chart": plot["chart"],
        "center": plot["center"],
        "ucl": [p["ucl"] for p in points] if varying else plot["ucl"],
        "lcl": [p["lcl"] for p in points] if varying else plot["lcl"],
        "x": [p["index"] for p in points],
        "y": [p["value"] for p in points],
        "ts": [p["ts"] for p in points],
        "n": [p["n"] for p in points] if points and "n" in points[0] else None,
        "flags": [flags.get(p["index"]) for p in points],
    }


def chart_data(view: ChartView, document: dict[str, Any]) -> dict[str, Any]:
    """What ``spc.js`` draws. Specification limits go on the individuals chart only: an
    average of several parts is not comparable with the limits each part must meet."""
    characteristic = view.characteristic
    spec = None
    if view.kind == "imr":
        spec = {
            "lsl": characteristic.lsl,
            "usl": characteristic.usl,
            "target": characteristic.target,
        }
    return {
        "kind": view.kind,
        "unit": characteristic.unit or "",
        "decimals": view.plot_decimals,
        "main": _plot_data(document),
        "dispersion": None
        if document["dispersion"] is None
        else _plot_data(document["dispersion"]),
        "spec": spec,
    }


def point_time(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
