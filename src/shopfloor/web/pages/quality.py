"""The quality area (``/quality``): inspections, SPC charts, capability, defect Pareto.

Not built yet: the page says where the same data is available meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shopfloor.auth.roles import Permission
from shopfloor.web.navigation import NavItem
from shopfloor.web.templating import render

router = APIRouter()
NAV = NavItem("Quality", "/quality", Permission.READ, order=30)


@router.get("/quality", name="quality")
async def quality_page(request: Request) -> Response:
    context = {
        "title": "Quality",
        "summary": "Inspections, SPC charts and capability are coming to this page.",
        "api_path": "/api/v1/inspections",
    }
    return render(request, "pages/placeholder.html", context)
