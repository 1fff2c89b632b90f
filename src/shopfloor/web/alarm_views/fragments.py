"""The alarm pages' fragments, rendered for the viewer: a row, an alarm's detail, its history.

Each fragment's template is under ``templates/alarms/``; ``row.html`` is the same whether the
page drew it, an action answered with it or the live stream sent it, so the three always agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request

from shopfloor.alarms import service
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import NotFound
from shopfloor.web.alarm_views.actions import Outcome, assignable_users
from shopfloor.web.alarm_views.formatting import helpers
from shopfloor.web.alarm_views.history import history
from shopfloor.web.alarm_views.rows import AlarmRow, row_of
from shopfloor.web.templating import render_string


def view_context(**context: Any) -> dict[str, Any]:
    """A fragment's context with the formatting helpers and the time it is drawn at."""
    return {**helpers(), "now": utcnow(), **context}


def row_html(request: Request, row: AlarmRow, outcome: Outcome | None = None) -> str:
    context = view_context(alarm=row, outcome=outcome)
    return render_string(request, "alarms/row.html", context, page=False)


def alarm_html(request: Request, row: AlarmRow) -> str:
    """An alarm's whole body of the table (its row and a place for its detail)."""
    context = view_context(alarm=row, outcome=None, detail=None)
    return render_string(request, "alarms/alarm.html", context, page=False)


async def load_row(request: Request, alarm_id: int) -> AlarmRow:
    async with request.app.state.db.read() as session:
        row = await row_of(session, alarm_id)
    if row is None:
        raise NotFound(f"alarm {alarm_id} does not exist")
    return row


async def load_detail(request: Request, alarm_id: int) -> dict[str, Any]:
    """The alarm, its history with notes, and whom it can be assigned to (for the panel)."""
    async with request.app.state.db.read() as session:
        document = await service.get_alarm(session, alarm_id)  # 404 as the API
        row = await row_of(session, alarm_id)
        users = await assignable_users(session)
    if row is None:
        raise NotFound(f"alarm {alarm_id} does not exist")
    notes = [{**note, "created_at": _parse(note["created_at"])} for note in document["notes"]]
    return {"alarm": row, "entries": history(row, notes), "users": users}


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def detail_context(detail: dict[str, Any], outcome: Outcome | None = None) -> dict[str, Any]:
    return view_context(**detail, outcome=outcome)
