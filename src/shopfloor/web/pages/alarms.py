"""The alarms area (``/alarms``): the list to act on, acknowledgement, resolution, shelves.

Not built yet: the page says where the same data is available meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shopfloor.auth.roles import Permission
from shopfloor.web.navigation import NavItem
from shopfloor.web.templating import render

router = APIRouter()
NAV = NavItem("Alarms", "/alarms", Permission.READ, order=20)


@router.get("/alarms", name="alarms")
async def alarms_page(request: Request) -> Response:
    context = {
        "title": "Alarms",
        "summary": "The alarm list with acknowledgement and resolution is coming to this page.",
        "api_path": "/api/v1/alarms",
    }
    return render(request, "pages/placeholder.html", context)
