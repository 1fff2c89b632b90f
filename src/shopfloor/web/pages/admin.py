"""The administration area (``/admin``): users, API keys, the audit log. Admins only.

Not built yet: the page says where the same data is available meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from shopfloor.auth.roles import Permission
from shopfloor.web.deps import requires
from shopfloor.web.navigation import NavItem
from shopfloor.web.templating import render

router = APIRouter(dependencies=[Depends(requires(Permission.ADMIN))])
NAV = NavItem("Admin", "/admin", Permission.ADMIN, order=90)


@router.get("/admin", name="admin")
async def admin_page(request: Request) -> Response:
    context = {
        "title": "Administration",
        "summary": "Users, API keys and the audit log are coming to this page.",
        "api_path": "/api/v1/users",
    }
    return render(request, "pages/placeholder.html", context)
