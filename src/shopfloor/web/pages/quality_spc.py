"""SPC on the dashboard: the characteristics (``/quality/characteristics``) and each one's
control chart with its capability (``/quality/characteristics/{id}``), redrawn live as new
measurements of it are recorded (``/live/quality/characteristics/{id}``).

The chart is the one ``GET /api/v1/spc/{id}`` gives (same default chart, same limits and rules);
the browser draws it with uPlot (``static/js/spc.js``) from data embedded in the page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from shopfloor.web.live import LiveEvent
from shopfloor.web.live.stream import live_events
from shopfloor.web.quality import lists
from shopfloor.web.quality.charts import CHART_LABELS, DEFAULT_WINDOW, WINDOWS, load_chart
from shopfloor.web.quality.feed import topic_of
from shopfloor.web.quality.summaries import CharacteristicSummary, summarise
from shopfloor.web.templating import render

router = APIRouter()
CHART = Query("", max_length=16, description="imr, xbar_r, xbar_s, p, np, c or u")
SUBGROUP_SIZE = Query(None, ge=2, le=25)
LAST = Query(DEFAULT_WINDOW, ge=0, le=100_000, description="the last N points; 0 for all")


@router.get("/quality/characteristics", name="quality_characteristics")
async def characteristics_page(request: Request) -> Response:
    async with request.app.state.db.read() as session:
        rows = await lists.characteristic_rows(session)
        summaries = [await summarise(session, row) for row in rows]
    parts: dict[int, list[CharacteristicSummary]] = {}
    for summary in summaries:
        parts.setdefault(summary.row.part.id, []).append(summary)
    return render(request, "quality/characteristics.html", {"parts": list(parts.values())})


async def _chart_context(
    request: Request, characteristic_id: int, chart: str, subgroup_size: int | None, last: int
) -> dict[str, object]:
    async with request.app.state.db.read() as session:
        view = await load_chart(session, characteristic_id, chart or None, subgroup_size, last)
    return {"view": view, "windows": WINDOWS, "chart_labels": CHART_LABELS}


@router.get("/quality/characteristics/{characteristic_id}", name="quality_chart")
async def chart_page(
    request: Request,
    characteristic_id: int,
    chart: str = CHART,
    subgroup_size: int | None = SUBGROUP_SIZE,
    last: int = LAST,
) -> Response:
    context = await _chart_context(request, characteristic_id, chart, subgroup_size, last)
    return render(request, "quality/chart.html", context)


@router.get("/quality/characteristics/{characteristic_id}/chart", name="quality_chart_body")
async def chart_body(
    request: Request,
    characteristic_id: int,
    chart: str = CHART,
    subgroup_size: int | None = SUBGROUP_SIZE,
    last: int = LAST,
) -> Response:
    """The chart, its violations and capability alone: fetched again when the stream says a
    measurement came."""
    context = await _chart_context(request, characteristic_id, chart, subgroup_size, last)
    return render(request, "quality/chart_body.html", context, page=False)


@router.get(
    "/live/quality/characteristics/{characteristic_id}",
    response_class=EventSourceResponse,
    name="quality_chart_live",
)
async def chart_live(
    request: Request, characteristic_id: int, shown: str = Query("", max_length=64)
) -> AsyncIterator[ServerSentEvent]:
    drawn = [shown]

    def render_event(event: LiveEvent) -> Iterator[ServerSentEvent]:
        if event.data is not None and event.data != drawn[0]:
            drawn[0] = event.data
            yield ServerSentEvent(event="measured", data=event.data)

    async for message in live_events(request, [topic_of(characteristic_id)], render_event):
        yield message
