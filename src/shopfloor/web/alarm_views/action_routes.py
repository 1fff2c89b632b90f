"""The alarm actions' routes: acknowledge, resolve, assign, add a note.

Each needs the permission its API route needs. An htmx request is answered with the changed
fragments: from a row, the row; from an alarm's detail, its forms (with the outcome where the
person acted), and the row and the history out of band. What went wrong (the alarm moved on
meanwhile, an empty note) is said in place, with the alarm as it now is. A plain form post
(no script) is answered with the alarm's page and the outcome as a message.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.web.alarm_views.actions import Action, perform
from shopfloor.web.alarm_views.fragments import detail_context, load_detail, load_row, view_context
from shopfloor.web.deps import requires
from shopfloor.web.errors import is_htmx
from shopfloor.web.flash import flash
from shopfloor.web.templating import render

router = APIRouter()
MAX_TEXT = 8000  # longer than any note the service accepts: it says what is too long


async def _answer(
    request: Request, alarm_id: int, action: Action, value: str | None, from_detail: bool
) -> Response:
    outcome = await perform(request, alarm_id, action, value)
    if not is_htmx(request):
        flash(request, outcome.message, "success" if outcome.ok else "error")
        return RedirectResponse(f"/alarms/{alarm_id}", status_code=303)
    if not from_detail:
        row = await load_row(request, alarm_id)
        return render(
            request, "alarms/row.html", view_context(alarm=row, outcome=outcome), page=False
        )
    detail = await load_detail(request, alarm_id)
    draft = value if not outcome.ok and action == "note" else ""
    context = detail_context(detail, outcome) | {"draft": draft, "action": action}
    return render(request, "alarms/acted.html", context, page=False)


def _from_detail(place: str) -> bool:
    return place == "detail"


@router.post("/alarms/{alarm_id}/acknowledge", name="alarm_acknowledge")
async def acknowledge(
    request: Request,
    alarm_id: int,
    note: str = Form("", max_length=MAX_TEXT),
    place: str = Form("row", max_length=10),
    principal: Principal = Depends(requires(Permission.ACKNOWLEDGE)),
) -> Response:
    return await _answer(request, alarm_id, "acknowledge", note, _from_detail(place))


@router.post("/alarms/{alarm_id}/resolve", name="alarm_resolve")
async def resolve(
    request: Request,
    alarm_id: int,
    note: str = Form("", max_length=MAX_TEXT),
    place: str = Form("row", max_length=10),
    principal: Principal = Depends(requires(Permission.RESOLVE)),
) -> Response:
    return await _answer(request, alarm_id, "resolve", note, _from_detail(place))


@router.post("/alarms/{alarm_id}/assign", name="alarm_assign")
async def assign(
    request: Request,
    alarm_id: int,
    user: str = Form("", max_length=200),
    place: str = Form("detail", max_length=10),
    principal: Principal = Depends(requires(Permission.RESOLVE)),
) -> Response:
    return await _answer(request, alarm_id, "assign", user, _from_detail(place))


@router.post("/alarms/{alarm_id}/notes", name="alarm_note")
async def add_note(
    request: Request,
    alarm_id: int,
    text: str = Form("", max_length=MAX_TEXT),
    place: str = Form("detail", max_length=10),
    principal: Principal = Depends(requires(Permission.ACKNOWLEDGE)),
) -> Response:
    return await _answer(request, alarm_id, "note", text, _from_detail(place))
