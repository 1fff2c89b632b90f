"""HTTP: the defect Pareto and yields of the lots made at or under a plant path."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request

from shopfloor.core.clock import EPOCH
from shopfloor.core.errors import ValidationFailed
from shopfloor.core.paths import checked_under
from shopfloor.quality import analytics
from shopfloor.quality.schemas import ParetoOut, YieldOut
from shopfloor.readings.timeparams import parse_time_param

router = APIRouter(tags=["quality analytics"])
UNDER = Query(None, description="The lots whose line is this path or under it; default all")
START = Query(None, description="RFC 3339 or epoch seconds; inclusive")
END = Query(None, description="RFC 3339 or epoch seconds; exclusive")


def _window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    start_us, end_us = parse_time_param("start", start), parse_time_param("end", end)
    if start_us is not None and end_us is not None and end_us <= start_us:
        msg = "end must be after start"
        raise ValidationFailed(
            msg, errors=[{"loc": ["query", "end"], "msg": msg, "type": "value_error"}]
        )

    def moment(epoch_us: int | None) -> datetime | None:
        return None if epoch_us is None else EPOCH + timedelta(microseconds=epoch_us)

    return moment(start_us), moment(end_us)


@router.get(
    "/quality/pareto",
    response_model=ParetoOut,
    summary="Defect types by count, largest first, with cumulative percent",
)
async def pareto(
    request: Request, under: str | None = UNDER, start: str | None = START, end: str | None = END
) -> dict[str, Any]:
    """The defects recorded in [start, end) on the inspections (not cancelled) of the lots made
    at or under ``under``, summed by defect type (each defect counts its ``count``), largest
    first (ties by code). ``percent`` is each type's share of ``total``; ``cumulative_percent``
    adds up the shares in that order and ends at 100."""
    window = _window(start, end)
    async with request.app.state.db.read() as session:
        return await analytics.pareto(session, checked_under(under), *window)


@router.get(
    "/quality/yield",
    response_model=YieldOut,
    summary="First-pass yield per lot and per line, rolled throughput yield of a line",
)
async def yields(
    request: Request, under: str | None = UNDER, start: str | None = START, end: str | None = END
) -> dict[str, Any]:
    """- **First-pass yield** (FPY): the lots accepted at their *first* completed inspection,
    divided by the lots inspected; a lot counts when that first inspection was completed in
    [start, end). A lot rejected, reworked or held first is not a first pass, even if
    accepted later. Given overall, per line path (``lines``) and per lot (``lots``, whose
    ``first_pass`` says it); ``unit_yield`` is the conforming share of the first samples,
    (sampled - nonconforming units) / sampled.
    - **Steps** of the line ``under``: the distinct line paths of its lots (the cells or
      stations under it, and the line itself when lots were recorded there).
    - **Rolled throughput yield** (RTY): the product of the steps' first-pass yields, the
      chance that a lot passes every step the first time; null without ``under``."""
    window = _window(start, end)
    async with request.app.state.db.read() as session:
        return await analytics.yields(session, checked_under(under), *window)
