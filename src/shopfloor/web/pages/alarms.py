"""The alarms area (``/alarms``): the list to act on, each alarm's history, live.

The list is newest first, a page at a time (``?cursor=``), filtered as ``GET /api/v1/alarms``
is (``state``, ``severity`` repeated; ``under=PATH``), with the filters in the URL so that a view
can be shared. ``/alarms/{id}`` shows one alarm with its notes and history. Acknowledge,
resolve, assign and notes are htmx requests answered with the changed fragments
(``alarm_views.action_routes``); buttons show only to those whose role allows them.

Live: the page's stream (``/live/alarms``) swaps in each row as its alarm changes and puts new
alarms on top; the summary of what needs someone follows too (``alarm_views.feed``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import func, select

from shopfloor.alarms.events import SEVERITIES
from shopfloor.alarms.models import Alarm
from shopfloor.auth.roles import Permission
from shopfloor.plant.models import Asset
from shopfloor.web.alarm_views.action_routes import router as action_router
from shopfloor.web.alarm_views.feed import ALARMS, AlarmFeed
from shopfloor.web.alarm_views.filters import (
    ACTIVE_STATES,
    STATES,
    AlarmFilters,
    next_cursor,
    read_cursor,
)
from shopfloor.web.alarm_views.fragments import detail_context, load_detail, view_context
from shopfloor.web.alarm_views.live import ListView
from shopfloor.web.alarm_views.rows import counts_by_state, list_rows
from shopfloor.web.alarm_views.summary import AlarmSummary
from shopfloor.web.live.stream import live_events
from shopfloor.web.navigation import NavItem
from shopfloor.web.templating import render

router = APIRouter()
router.include_router(action_router)
NAV = NavItem("Alarms", "/alarms", Permission.READ, order=20)
PAGE_SIZE = 50
MAX_PATHS = 500
QUICK_VIEWS = (
    ("Needs attention", AlarmFilters(states=ACTIVE_STATES)),
    ("Open critical", AlarmFilters(states=("open",), severities=("critical",))),
    ("All alarms", AlarmFilters()),
)


def alarm_feed(app: FastAPI) -> AlarmFeed:
    return AlarmFeed()


FEEDS = (alarm_feed,)


def _filters(state: list[str], severity: list[str], under: str | None) -> AlarmFilters:
    return AlarmFilters.read(state, severity, under)


@router.get("/alarms", name="alarms")
async def alarms_page(
    request: Request,
    state: list[str] = Query([], max_length=20),
    severity: list[str] = Query([], max_length=20),
    under: str | None = Query(None, max_length=300),
    cursor: str | None = Query(None, max_length=200),
) -> Response:
    filters = _filters(state, severity, under)
    before, cursor_problem = read_cursor(cursor)
    async with request.app.state.db.read() as session:
        rows = await list_rows(session, filters, before_id=before, limit=PAGE_SIZE + 1)
        summary = AlarmSummary.of(await counts_by_state(session))
        newest_id = await session.scalar(select(func.max(Alarm.id))) or 0
        paths = (
            await session.scalars(select(Asset.path).order_by(Asset.path).limit(MAX_PATHS))
        ).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    top = before is None
    live = filters.query(
        top=int(top),
        newest=newest_id if top else (rows[0].id if rows else 0),
        oldest=rows[-1].id if rows else newest_id + 1,
    )
    context = view_context(
        rows=rows,
        filters=filters,
        problems=[*filters.problems, *([cursor_problem] if cursor_problem else [])],
        summary=summary,
        states=STATES,
        severities=SEVERITIES,
        paths=paths,
        quick_views=QUICK_VIEWS,
        top=top,
        paged=before is not None,
        next_cursor=next_cursor(rows[-1].id) if more else None,
        live_url=f"/live/alarms?{live}",
    )
    return render(request, "alarms/page.html", context)


@router.get("/alarms/{alarm_id}", name="alarm")
async def alarm_page(request: Request, alarm_id: int) -> Response:
    detail = await load_detail(request, alarm_id)
    live = AlarmFilters().query(top=0, newest=alarm_id, oldest=alarm_id)
    context = detail_context(detail) | {"live_url": f"/live/alarms?{live}"}
    return render(request, "alarms/detail.html", context)


@router.get("/alarms/{alarm_id}/panel", name="alarm_panel")
async def alarm_panel(request: Request, alarm_id: int) -> Response:
    """The detail under a row of the list, asked for when the row is expanded."""
    detail = await load_detail(request, alarm_id)
    return render(request, "alarms/panel.html", detail_context(detail), page=False)


@router.get("/alarms/{alarm_id}/record", name="alarm_record")
async def alarm_record(request: Request, alarm_id: int) -> Response:
    """An alarm's history, asked for again when the stream says it changed."""
    detail = await load_detail(request, alarm_id)
    return render(request, "alarms/record.html", detail_context(detail), page=False)


@router.get("/live/alarms", response_class=EventSourceResponse, name="alarms_live")
async def alarms_live(
    request: Request,
    state: list[str] = Query([], max_length=20),
    severity: list[str] = Query([], max_length=20),
    under: str | None = Query(None, max_length=300),
    newest: int = Query(0, ge=0),
    oldest: int = Query(0, ge=0),
    top: bool = Query(False),
) -> AsyncIterator[ServerSentEvent]:
    view = ListView(request, _filters(state, severity, under), oldest, newest, top)
    async for message in live_events(request, [ALARMS], view.render):
        yield message
