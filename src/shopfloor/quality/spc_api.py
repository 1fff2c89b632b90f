"""HTTP: control charts of a characteristic, the limits frozen for phase II, and capability
(CONTRACT "Quality": ``GET /spc/{characteristic_id}``, ``GET /capability/{characteristic_id}``).

How measurements become points, and the default chart, are described in ``spc_service``. Input
a chart cannot use (a chart that does not fit the characteristic's kind, too few points, a
baseline longer than the data, subgroups of the wrong size) is 422 naming the parameter; an
unknown characteristic is 404.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shopfloor.core.clock import rfc3339
from shopfloor.core.errors import ValidationFailed
from shopfloor.core.idempotency import create_once
from shopfloor.quality import records, spc_service
from shopfloor.quality.models import SpcLimits
from shopfloor.quality.spc import ChartResult, SpcInputError
from shopfloor.quality.spc.rules import Violation
from shopfloor.quality.spc_service import Built

router = APIRouter(tags=["spc"])
ChartKind = Literal["imr", "xbar_r", "xbar_s", "p", "np", "c", "u"]
PARAMETERS = ("chart", "subgroup_size", "baseline", "limit")

CHART_DESCRIPTION = """\
A control chart of the characteristic's measurements, judged by the Western Electric (WE1-WE4)
and Nelson (N1-N8) rules; the dispersion chart (R, S or moving range) is judged by WE1/N1 only.

**Points** are in measurement time order, `index` from 1, `ts` the time of the point's last
measurement. `imr` plots each value; `xbar_r`/`xbar_s` plot subgroups: the measurements'
`subgroup` numbers (counted within each inspection), else runs of `subgroup_size` consecutive
values; subgroups not of the chart's size (still being measured) are left out, with a note.

**Attribute characteristics**: each measurement is one inspected unit and its value the number
of nonconformities found on it (0 = a good unit; 0/1 per unit is the simple case). One point per
inspection: `p`/`np` chart its nonconforming units (value > 0) out of its sample size n (the
inspection's `sample_size`; units not entered count as good), `c` its nonconformities, `u` its
nonconformities per unit. Points of attribute charts carry `n`, and `ucl`/`lcl` of their own
when the limits vary with n.

**Default chart**: the one whose limits are stored, else `p` for attributes, `xbar_r` when the
measurements have subgroups, else `imr`.

**Phases**: with `baseline=K` the first K points set the limits (`phase` "I") and all are judged
by them; without it, when limits are stored for the chart (`POST …/limits`), every point is
judged against them (`phase` "II", `limits_from` says when they were stored); else all points
set the limits. `limit=N` shows only the last N points (and their violations); limits still come
from all the data."""


class PointOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int
    value: float
    ts: str = Field(description="RFC 3339: the time of the point's last measurement")


class ViolationOut(BaseModel):
    rule: str
    index: int
    description: str


class DispersionOut(BaseModel):
    chart: str
    center: float
    ucl: float
    lcl: float
    points: list[PointOut]
    violations: list[ViolationOut]


class ChartOut(DispersionOut):
    characteristic_id: int
    dispersion: DispersionOut | None
    phase: Literal["I", "II"]
    limits_from: str
    baseline_count: int = Field(description="points that set the limits; 0 when stored ones")
    subgroup_size: int = Field(description="values per point (1 for imr, mean n for attribute)")
    sigma_within: float | None
    notes: list[str]


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chart: ChartKind | None = Field(default=None, description="default as for GET /spc")
    subgroup_size: int | None = Field(default=None, ge=1, le=25)
    baseline: int | None = Field(default=None, ge=2, description="the first K points; else all")


class LimitLines(BaseModel):
    chart: str
    center: float
    ucl: float | None
    lcl: float | None


class LimitsOut(LimitLines):
    model_config = ConfigDict(extra="allow")

    characteristic_id: int
    subgroup_size: int
    dispersion: LimitLines | None
    baseline_count: int
    computed_at: str


class LimitsList(BaseModel):
    items: list[LimitsOut]
    next_cursor: str | None = None


class CapabilityOut(BaseModel):
    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None
    warnings: list[str]
    lsl: float | None
    usl: float | None
    chart: str = Field(description="the chart sigma within and control are judged on")
    in_control: bool
    broken_rules: list[str]


def _refused(exc: SpcInputError, characteristic_id: int, where: str) -> ValidationFailed:
    """422 naming the parameter at fault, else the characteristic (its data or its limits)."""
    if exc.field in PARAMETERS:
        loc: list[Any] = [where, exc.field]
    elif exc.field in ("lsl", "usl"):
        loc = ["characteristic", exc.field]
    else:
        loc = ["path", "characteristic_id"]
    msg = f"characteristic {characteristic_id}: {exc}"
    return ValidationFailed(msg, errors=[{"loc": loc, "msg": msg, "type": "value_error"}])


async def _chart(
    request: Request,
    characteristic_id: int,
    chart: str | None,
    subgroup_size: int | None,
    baseline: int | None,
) -> Built:
    async with request.app.state.db.read() as session:
        characteristic = await records.get_characteristic(session, characteristic_id)
        stored = await spc_service.stored_limits(session, characteristic_id)
        series = await spc_service.load_series(session, characteristic_id)
    kind = chart or spc_service.default_chart(characteristic, series, stored, subgroup_size)
    row = stored.get(kind) if baseline is None else None
    try:
        return spc_service.build(
            characteristic, series, kind, subgroup_size=subgroup_size, baseline=baseline, stored=row
        )
    except SpcInputError as exc:
        raise _refused(exc, characteristic_id, "query") from None


def _lines(chart: ChartResult, built: Built, shown_from: int, rules: list[Violation]) -> dict:
    points = []
    for position, point in enumerate(chart.points):
        if point.index < shown_from:
            continue
        item: dict[str, Any] = {
            "index": point.index,
            "value": point.value,
            "ts": rfc3339(built.times[point.index - 1]),
        }
        if built.sample_sizes is not None:
            item["n"] = built.sample_sizes[point.index - 1]
        if chart.point_limits is not None:
            item["lcl"], item["ucl"] = chart.point_limits[position]
        points.append(item)
    return {
        "chart": chart.chart,
        "center": chart.center,
        "ucl": chart.ucl,
        "lcl": chart.lcl,
        "points": points,
        "violations": [
            {"rule": v.rule, "index": v.index, "description": v.description}
            for v in rules
            if v.index >= shown_from
        ],
    }


def chart_document(characteristic_id: int, built: Built, limit: int | None) -> dict[str, Any]:
    chart = built.chart
    shown_from = 1 if limit is None else max(1, len(chart.points) - limit + 1)
    if built.stored is not None:
        limits_from = (
            f"stored at {rfc3339(built.stored.computed_at)} "
            f"(from {built.stored.baseline_count} points)"
        )
    elif chart.baseline_count < len(chart.points):
        limits_from = f"the first {chart.baseline_count} points (baseline)"
    else:
        limits_from = f"all {len(chart.points)} points"
    dispersion = chart.dispersion
    return {
        "characteristic_id": characteristic_id,
        **_lines(chart, built, shown_from, built.violations()),
        "dispersion": None
        if dispersion is None
        else _lines(dispersion, built, shown_from, built.dispersion_violations()),
        "phase": "II" if built.stored is not None else "I",
        "limits_from": limits_from,
        "baseline_count": chart.baseline_count,
        "subgroup_size": built.subgroup_size,
        "sigma_within": chart.sigma_within,
        "notes": chart.notes + built.notes,
    }


def limits_document(row: SpcLimits) -> dict[str, Any]:
    spread = None
    if row.dispersion_center is not None:
        name = {"imr": "mr", "xbar_r": "r", "xbar_s": "s"}.get(row.chart, "")
        spread = {
            "chart": name,
            "center": row.dispersion_center,
            "ucl": row.dispersion_ucl,
            "lcl": row.dispersion_lcl,
        }
    return {
        "characteristic_id": row.characteristic_id,
        "chart": row.chart,
        "subgroup_size": row.subgroup_size,
        "center": row.center,
        "ucl": row.ucl,
        "lcl": row.lcl,
        "dispersion": spread,
        "baseline_count": row.baseline_count,
        "computed_at": rfc3339(row.computed_at),
    }


@router.get(
    "/spc/{characteristic_id}",
    response_model=ChartOut,
    summary="Control chart of a characteristic, with rule violations",
    description=CHART_DESCRIPTION,
)
async def get_chart(
    request: Request,
    characteristic_id: int,
    chart: ChartKind | None = Query(None, description="default: see above"),
    subgroup_size: int | None = Query(
        None, ge=1, le=25, description="values per subgroup when measurements have no subgroup"
    ),
    baseline: int | None = Query(None, ge=2, description="the first K points set the limits"),
    limit: int | None = Query(None, ge=1, le=100_000, description="only the last N points"),
) -> dict[str, Any]:
    built = await _chart(request, characteristic_id, chart, subgroup_size, baseline)
    return chart_document(characteristic_id, built, limit)


@router.get(
    "/spc/{characteristic_id}/limits",
    response_model=LimitsList,
    summary="The control limits stored for a characteristic's charts",
)
async def list_limits(request: Request, characteristic_id: int) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        await records.get_characteristic(session, characteristic_id)
        stored = await spc_service.stored_limits(session, characteristic_id)
    rows = sorted(stored.values(), key=lambda row: row.chart)
    return {"items": [limits_document(row) for row in rows], "next_cursor": None}


@router.post(
    "/spc/{characteristic_id}/limits",
    status_code=201,
    response_model=LimitsOut,
    summary="Compute phase-I control limits and store them for phase II",
)
async def store_limits(
    request: Request, characteristic_id: int, body: LimitsIn | None = None
) -> Response:
    """Limits from the first ``baseline`` points (or all), stored for the chart (replacing
    those stored before): from now on ``GET /spc`` (without a baseline) and the SPC alarms judge
    new points against them. The answer lists the rules the baseline itself breaks
    (``violations``): points with special causes should be removed before freezing limits."""
    wanted = body or LimitsIn()

    async def create(session: Any) -> dict[str, Any]:
        characteristic = await records.get_characteristic(session, characteristic_id)
        stored = await spc_service.stored_limits(session, characteristic_id)
        series = await spc_service.load_series(session, characteristic_id)
        kind = wanted.chart or spc_service.default_chart(
            characteristic, series, stored, wanted.subgroup_size
        )
        try:
            built = spc_service.build(
                characteristic,
                series,
                kind,
                subgroup_size=wanted.subgroup_size,
                baseline=wanted.baseline,
            )
        except SpcInputError as exc:
            raise _refused(exc, characteristic_id, "body") from None
        row = await spc_service.save_limits(session, characteristic_id, built)
        count = built.chart.baseline_count
        return {
            **limits_document(row),
            "violations": [
                {"rule": v.rule, "index": v.index, "description": v.description}
                for v in built.violations()
                if v.index <= count
            ],
            "notes": built.chart.notes + built.notes,
        }

    return await create_once(request.app.state.db, request, wanted.model_dump(), create)


@router.delete(
    "/spc/{characteristic_id}/limits",
    status_code=204,
    response_class=Response,
    summary="Forget stored control limits (back to phase I)",
)
async def delete_limits(
    request: Request,
    characteristic_id: int,
    chart: ChartKind | None = Query(None, description="only this chart's; default all"),
) -> Response:
    """Deletes the stored limits of ``chart`` (or of every chart); charts and SPC alarms then
    estimate limits from all points again. Deleting limits that are not stored changes
    nothing (still 204)."""
    async with request.app.state.db.write() as session:
        await records.get_characteristic(session, characteristic_id)
        await spc_service.forget_limits(session, characteristic_id, chart)
    return Response(status_code=204)


@router.get(
    "/capability/{characteristic_id}",
    response_model=CapabilityOut,
    summary="Process capability (Cp, Cpk) and performance (Pp, Ppk) of a characteristic",
)
async def get_capability(
    request: Request,
    characteristic_id: int,
    subgroup_size: int | None = Query(
        None, ge=1, le=25, description="values per subgroup when measurements have no subgroup"
    ),
) -> dict[str, Any]:
    """Over every measurement: ``mean`` and ``sigma_overall`` (sample standard deviation) give
    Pp = (USL - LSL) / 6 sigma_overall and Ppk = min(USL - mean, mean - LSL) / 3 sigma_overall;
    Cp and Cpk are the same with ``sigma_within``, MR̄/d2 of the I-MR chart (R̄/d2 of the
    X̄-R chart when the measurements have subgroups). With one specification limit Cp and Pp
    are null. That chart's rules (limits from all points) decide ``in_control``: when they do
    not hold, or with fewer than 30 values, ``warnings`` say why the indices are not to be
    trusted. Attribute characteristics and characteristics without specification limits are
    422."""
    async with request.app.state.db.read() as session:
        characteristic = await records.get_characteristic(session, characteristic_id)
        series = await spc_service.load_series(session, characteristic_id)
    try:
        study = spc_service.capability_study(characteristic, series, subgroup_size)
    except SpcInputError as exc:
        raise _refused(exc, characteristic_id, "query") from None
    result = study.result
    return {
        "n": result.n,
        "mean": result.mean,
        "sigma_within": result.sigma_within,
        "sigma_overall": result.sigma_overall,
        "cp": result.cp,
        "cpk": result.cpk,
        "pp": result.pp,
        "ppk": result.ppk,
        "warnings": result.warnings,
        "lsl": characteristic.lsl,
        "usl": characteristic.usl,
        "chart": study.chart,
        "in_control": study.in_control,
        "broken_rules": study.broken_rules,
    }
