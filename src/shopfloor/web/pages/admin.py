"""The administration area (``/admin``): its header link and landing page.

Each section is a module of its own (``admin_users``, ``admin_api_keys``, ``admin_channels``,
``admin_deliveries``, ``admin_rules``, ``admin_audit``), guarded by the permission its API
needs; ``web.admin.sections`` lists them. The link shows to whoever may use one of them:
administrators see everything, maintenance engineers notifications and alarm rules, quality
managers notifications.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from shopfloor.web.admin.respond import admin_context
from shopfloor.web.admin.sections import AREA_PERMISSIONS, may_enter_area
from shopfloor.web.admin.summary import section_facts
from shopfloor.web.navigation import NavItem
from shopfloor.web.templating import render

router = APIRouter(dependencies=[Depends(may_enter_area())])
NAV = NavItem("Admin", "/admin", AREA_PERMISSIONS, order=90)


@router.get("/admin", name="admin")
async def admin_page(request: Request) -> Response:
    context = admin_context(request, "")
    async with request.app.state.db.read() as session:
        context["facts"] = await section_facts(session, context["sections"])
    return render(request, "admin/landing.html", context)
