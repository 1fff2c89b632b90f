"""Users (``/admin/users``): who signs in, with which role. Administrators only.

Through the same service as ``/api/v1/users`` (``auth.users``): the same checks of names, roles
and the password policy, the same protection of the last active admin, the same sign-out
everywhere on a new role, a password reset or deactivation; the audit log records each change
as it records the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth import lockout, users
from shopfloor.auth.models import LoginThrottle, User
from shopfloor.auth.roles import ROLES, Permission
from shopfloor.auth.schemas import UserUpdate
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, NotFound, ShopfloorError, ValidationFailed
from shopfloor.web.admin.forms import (
    FormState,
    clean_message,
    form_values,
    optional,
    pydantic_errors,
    sentence,
)
from shopfloor.web.admin.respond import admin_context, done, section
from shopfloor.web.deps import requires

router = APIRouter(dependencies=[Depends(requires(Permission.ADMIN))])
NAV = None
SECTION = "users"
URL = "/admin/users"
PAGE, FRAGMENT = "admin/users/page.html", "admin/users/section.html"
PAGE_SIZE = 100
MAX_EMAIL = 255  # the column's size, as UserCreate's limit
LABELS = {"username": "User name", "email": "E-mail", "role": "Role", "password": "Password"}
ROLE_NOTES = {
    "viewer": "reads the plant, readings, alarms and quality",
    "operator": "also acknowledges alarms and adds notes",
    "inspector": "also performs inspections",
    "maintenance_engineer": "also resolves alarms; manages assets, sensors, rules, notifications",
    "quality_manager": "also resolves alarms; manages parts, lots, inspections, notifications",
    "admin": "everything, including users, API keys and the audit log",
}


def role_label(role: str) -> str:
    return role.replace("_", " ")


@dataclass(frozen=True, slots=True)
class UserRow:
    user: User
    locked_until: datetime | None
    is_self: bool


@dataclass
class Changes:
    """What the section shows besides the list: a notice, and forms or rows with problems."""

    notice: str | None = None
    create: FormState | None = None
    passwords: dict[int, FormState] | None = None
    row_problems: dict[int, str] | None = None
    problem: str | None = None  # about no row shown (a user deleted meanwhile)


async def _locked(session: AsyncSession, names: list[str]) -> dict[str, datetime]:
    """The users (by name) whose sign-in is locked out now, and until when."""
    keys = {lockout.user_key(name): name for name in names}
    rows = await session.execute(
        select(LoginThrottle.key, LoginThrottle.locked_until).where(
            LoginThrottle.key.in_(keys), LoginThrottle.locked_until > utcnow()
        )
    )
    return {keys[key]: until for key, until in rows if until is not None}


async def _rows(request: Request, after: int | None) -> tuple[list[UserRow], int | None]:
    me = request.state.principal
    async with request.app.state.db.read() as session:
        found = list(await users.list_users(session, after=after, limit=PAGE_SIZE + 1))
        shown = found[:PAGE_SIZE]
        locked = await _locked(session, [user.username for user in shown])
    rows = [
        UserRow(user, locked.get(user.username), me.kind == "user" and user.id == me.id)
        for user in shown
    ]
    more = shown[-1].id if len(found) > PAGE_SIZE else None
    return rows, more


def new_user_form(values: dict[str, Any] | None = None) -> FormState:
    return FormState("new-user", values or {"role": "viewer"}, labels=LABELS)


async def _section(
    request: Request, changes: Changes, status_code: int = 200, after: int | None = None
) -> Response:
    rows, more = await _rows(request, after)
    context = admin_context(
        request,
        SECTION,
        rows=rows,
        after=after,
        more=more,
        roles=[(role, role_label(role)) for role in ROLES],
        role_notes=ROLE_NOTES,
        role_label=role_label,
        notice=changes.notice,
        create=changes.create or new_user_form(),
        passwords=changes.passwords or {},
        row_problems=changes.row_problems or {},
        problem=changes.problem,
    )
    return section(request, PAGE, FRAGMENT, context, status_code)


@router.get(URL, name="admin_users")
async def users_page(request: Request, after: int | None = Query(None, ge=0)) -> Response:
    return await _section(request, Changes(), after=after)


@router.post(URL)
async def create_user(request: Request) -> Response:
    """As ``POST /api/v1/users``. The service checks every field at once and says why in words."""
    values = form_values(await request.form(), untrimmed=("password",))
    form = new_user_form(values)
    username, role = str(values.get("username", "")), str(values.get("role", ""))
    email = optional(values, "email")
    if email is not None and len(email) > MAX_EMAIL:  # the one check only the API's body makes
        form.errors["email"] = f"At most {MAX_EMAIL} characters."
        return await _section(request, Changes(create=form), 422)
    try:
        async with request.app.state.db.write() as session:
            await users.create_user(
                session,
                username=username,
                password=str(values.get("password", "")),
                role=role,
                email=email,
            )
    except IntegrityError:  # lost a race for the name
        form.errors["username"] = f"A user named {username!r} already exists."
        return await _section(request, Changes(create=form), 409)
    except AlreadyExists as exc:
        form.errors["username"] = sentence(exc.detail)
        return await _section(request, Changes(create=form), exc.status)
    except ShopfloorError as exc:
        return await _section(request, Changes(create=form.refuse(exc)), exc.status)
    notice = f"{username} can now sign in as {role_label(role)}."
    return done(request, URL, notice) or await _section(request, Changes(notice=notice))


async def _change(
    request: Request,
    user_id: int,
    changes: Callable[[], UserUpdate],
    notice: Callable[[User], str],
    on_refusal: Callable[[ShopfloorError], Changes],
) -> Response:
    """Apply one change to a user through the service; its refusal shows on the user's row."""
    try:
        update = changes()
    except ValidationError as exc:
        detail = "; ".join(clean_message(e["msg"]) for e in exc.errors())
        refusal = ValidationFailed(detail, errors=pydantic_errors(exc))
        return await _section(request, on_refusal(refusal), refusal.status)
    try:
        async with request.app.state.db.write() as session:
            user = await users.update_user(session, user_id, update)
    except ShopfloorError as exc:
        return await _section(request, on_refusal(exc), exc.status)
    text = notice(user)
    return done(request, URL, text) or await _section(request, Changes(notice=text))


def _row_problem(user_id: int) -> Callable[[ShopfloorError], Changes]:
    def changes(exc: ShopfloorError) -> Changes:
        if isinstance(exc, NotFound):
            return Changes(problem=sentence(exc.detail))
        return Changes(row_problems={user_id: sentence(exc.detail)})

    return changes


@router.post(URL + "/{user_id}/role")
async def change_role(request: Request, user_id: int) -> Response:
    role = str((await request.form()).get("role", ""))
    return await _change(
        request,
        user_id,
        lambda: UserUpdate(role=role),
        lambda user: f"{user.username} is now {role_label(user.role)}; they sign in again.",
        _row_problem(user_id),
    )


@router.post(URL + "/{user_id}/active")
async def change_active(request: Request, user_id: int) -> Response:
    active = (await request.form()).get("active") == "true"
    return await _change(
        request,
        user_id,
        lambda: UserUpdate(active=active),
        lambda user: (
            f"{user.username} "
            + ("may sign in again." if active else "is disabled and signed out everywhere.")
        ),
        _row_problem(user_id),
    )


@router.post(URL + "/{user_id}/password")
async def reset_password(request: Request, user_id: int) -> Response:
    values = form_values(await request.form(), untrimmed=("password",))
    form = FormState(f"user-{user_id}-password", {}, labels={"password": "New password"})

    def refused(exc: ShopfloorError) -> Changes:
        if isinstance(exc, NotFound):
            return Changes(problem=sentence(exc.detail))
        return Changes(passwords={user_id: form.refuse(exc)})

    return await _change(
        request,
        user_id,
        lambda: UserUpdate(password=str(values.get("password", ""))),
        lambda user: f"{user.username}'s password is reset; they are signed out everywhere.",
        refused,
    )


@router.post(URL + "/{user_id}/delete")
async def delete_user(request: Request, user_id: int) -> Response:
    try:
        async with request.app.state.db.write() as session:
            name = (await users.get_user(session, user_id)).username
            await users.delete_user(session, user_id)
    except ShopfloorError as exc:
        return await _section(request, _row_problem(user_id)(exc), exc.status)
    notice = f"{name} is deleted."
    return done(request, URL, notice) or await _section(request, Changes(notice=notice))
