"""The defect Pareto on the dashboard (``/quality/pareto?under=&start=&end=``): the same figures
as ``GET /api/v1/quality/pareto`` (``analytics.pareto``), as a chart drawn on the server and a
table. ``start`` and ``end`` take what the API takes (RFC 3339, epoch seconds) and plain dates
from the form's date fields; a date as ``end`` includes that whole day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shopfloor.core.clock import EPOCH, utcnow
from shopfloor.core.errors import ValidationFailed
from shopfloor.core.paths import path_problem
from shopfloor.quality import analytics
from shopfloor.readings.timeparams import parse_time_param
from shopfloor.web.quality import lists
from shopfloor.web.quality.pareto import pareto_chart
from shopfloor.web.templating import render

router = APIRouter()
PRESET_DAYS = (7, 30, 90)


def _moment(name: str, raw: str, whole_day: bool = False) -> datetime | None:
    epoch_us = parse_time_param(name, raw or None)
    if epoch_us is None:
        return None
    moment = EPOCH + timedelta(microseconds=epoch_us)
    if whole_day and _is_date(raw):
        moment += timedelta(days=1)
    return moment


def _is_date(raw: str) -> bool:
    try:
        date.fromisoformat(raw)
    except ValueError:
        return False
    return len(raw) == 10


def presets(today: date) -> list[tuple[str, str, str]]:
    """(label, start, end) of the quick choices: the last 7, 30, 90 days, and all time."""
    choices = [
        (f"Last {days} days", (today - timedelta(days=days - 1)).isoformat(), today.isoformat())
        for days in PRESET_DAYS
    ]
    return [*choices, ("All time", "", "")]


@router.get("/quality/pareto", name="quality_pareto")
async def pareto_page(
    request: Request,
    under: str = Query("", max_length=255),
    start: str = Query("", max_length=64),
    end: str = Query("", max_length=64),
) -> Response:
    problems: dict[str, str] = {}
    if under and (problem := path_problem(under)):
        problems["under"] = problem
    window: list[datetime | None] = [None, None]
    for position, (name, raw) in enumerate((("start", start), ("end", end))):
        try:
            window[position] = _moment(name, raw, whole_day=name == "end")
        except ValidationFailed as exc:
            problems[name] = exc.detail
    if window[0] and window[1] and window[1] <= window[0]:
        problems["end"] = "The end must be after the start."
    result = {"items": [], "total": 0}
    async with request.app.state.db.read() as session:
        if not problems:
            result = await analytics.pareto(session, under or None, window[0], window[1])
        lines = await lists.line_paths(session)
    context = {
        "under": under,
        "start": start,
        "end": end,
        "problems": problems,
        "items": result["items"],
        "total": result["total"],
        "chart": pareto_chart(result["items"], result["total"]),
        "lines": lines,
        "presets": presets(utcnow().date()),
    }
    return render(request, "quality/pareto.html", context, 422 if problems else 200)
