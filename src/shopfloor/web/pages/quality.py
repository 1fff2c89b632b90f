"""The quality area (``/quality``): lots and inspections, inspection entry at the line, SPC
charts with capability, and the defect Pareto.

This module is the area's entry in ``PAGE_MODULES``: its overview page, its header link and
its live feed; the routes of each part are in ``quality_lots``, ``quality_inspections``,
``quality_spc`` and ``quality_pareto`` (their building blocks in ``web/quality/``).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from shopfloor.auth.roles import Permission
from shopfloor.core.clock import utcnow
from shopfloor.quality import analytics
from shopfloor.quality.models import IN_PROGRESS, PLANNED
from shopfloor.web.navigation import NavItem
from shopfloor.web.pages import quality_inspections, quality_lots, quality_pareto, quality_spc
from shopfloor.web.quality import lists
from shopfloor.web.quality.feed import MeasurementFeed
from shopfloor.web.templating import render

router = APIRouter()
NAV = NavItem("Quality", "/quality", Permission.READ, order=30)
RECENT_DAYS = 30
SHOWN = 8


def measurement_feed(app: FastAPI) -> MeasurementFeed:
    return MeasurementFeed()


FEEDS = (measurement_feed,)


@router.get("/quality", name="quality")
async def quality_page(request: Request) -> Response:
    since = utcnow() - timedelta(days=RECENT_DAYS)
    async with request.app.state.db.read() as session:
        counts = await lists.state_counts(session)
        open_ = await lists.inspection_listing(session, states=(PLANNED, IN_PROGRESS), limit=SHOWN)
        completed = await lists.inspection_listing(session, states=("completed",), limit=SHOWN)
        waiting = await lists.lots(session, status="none", limit=SHOWN)
        yields = await analytics.yields(session, start=since)
        pareto = await analytics.pareto(session, start=since)
        characteristics = await lists.characteristic_rows(session)
    context = {
        "counts": counts,
        "open": open_,
        "completed": completed,
        "waiting": waiting,
        "yields": yields,
        "pareto": pareto,
        "characteristics": characteristics,
        "recent_days": RECENT_DAYS,
    }
    return render(request, "quality/home.html", context)


for _module in (quality_lots, quality_inspections, quality_spc, quality_pareto):
    router.include_router(_module.router)
