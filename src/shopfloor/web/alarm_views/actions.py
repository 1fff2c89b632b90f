"""What people do to an alarm from the dashboard, exactly as the API does it.

Each action validates with the API's request bodies, calls ``alarms.service`` in one write
transaction (the same 409 for a transition the alarm's state does not allow), and hands the
committed event to the relay as ``alarms.api`` does. The change is audited as the signed-in
user's by the session's audit hooks (``deps.signed_in`` says who is acting).

An action never raises for what a person can cause: it returns an ``Outcome`` whose message is
shown where they acted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms import publish, service
from shopfloor.alarms.publish import PendingEvent
from shopfloor.alarms.schemas import ActionBody, AssignBody, NoteCreate
from shopfloor.auth.models import User
from shopfloor.auth.roles import Permission, role_permissions
from shopfloor.core.actor import actor_of
from shopfloor.core.errors import ShopfloorError

Action = Literal["acknowledge", "resolve", "assign", "note"]
DONE = {
    "acknowledge": "acknowledged",
    "resolve": "resolved",
    "assign": "assigned",
    "note": "added",
}
MAX_ASSIGNABLE = 500


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


def _failed(action: Action) -> str:
    return "Note not added" if action == "note" else f"Not {DONE[action]}"


def _invalid(exc: ValidationError, field: str) -> str:
    """What is wrong with what was typed, in the words of the form."""
    error = exc.errors()[0]
    kind, message = error.get("type", ""), error.get("msg", "")
    if kind in ("string_too_short", "missing") or "blank" in message:
        return f"the {field} is empty"
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length")
        return f"the {field} is too long (at most {limit} characters)"
    return f"the {field} is not valid ({message})"


def _validated(action: Action, text: str | None) -> str | None:
    """``text`` as the API's body for ``action`` reads it (ValidationError when it would not)."""
    if action == "note":
        return NoteCreate(text=text or "").text
    if action == "assign":
        return AssignBody(user=text).user
    return ActionBody(note=text).note


async def _apply(
    session: AsyncSession, alarm_id: int, action: Action, actor: str, value: str | None
) -> list[PendingEvent]:
    """The service call of ``action``; the events to hand to the relay after the commit."""
    if action == "acknowledge":
        return [(await service.acknowledge(session, alarm_id, actor, value))[1]]
    if action == "resolve":
        return [(await service.resolve(session, alarm_id, actor, value))[1]]
    if action == "assign":
        await service.assign(session, alarm_id, value)
    else:
        await service.add_note(session, alarm_id, actor, value or "")
    return []


async def perform(
    request: Request, alarm_id: int, action: Action, value: str | None = None
) -> Outcome:
    """Do ``action`` on the alarm (``value``: the note of acknowledge/resolve, the user of
    assign, the text of a note) and say how it went."""
    text = (value or "").strip() or None
    try:
        text = _validated(action, text)
    except ValidationError as exc:
        field = "user name" if action == "assign" else "note"
        return Outcome(False, f"{_failed(action)}: {_invalid(exc, field)}.")
    try:
        async with request.app.state.db.write() as session:
            events = await _apply(session, alarm_id, action, actor_of(request), text)
    except ShopfloorError as exc:
        return Outcome(False, f"{_failed(action)}: {exc.detail}.")
    publish.offer(request.app.state.pipeline.relay, events)
    return Outcome(True, _success(action, text))


def _success(action: Action, value: str | None) -> str:
    if action == "assign":
        return f"Assigned to {value}." if value else "No one is assigned now."
    if action == "note":
        return "Note added."
    return f"{DONE[action].capitalize()}{' with your note' if value else ''}."


async def assignable_users(session: AsyncSession) -> list[tuple[str, str]]:
    """(user name, role) of the active users who may act on alarms, by name."""
    rows = await session.execute(
        select(User.username, User.role)
        .where(User.active.is_(True))
        .order_by(User.username)
        .limit(MAX_ASSIGNABLE)
    )
    return [
        (name, role)
        for name, role in rows.all()
        if Permission.ACKNOWLEDGE in role_permissions(role)
    ]
