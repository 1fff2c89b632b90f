"""API keys (``/admin/api-keys``): keys for machines and integrations. Administrators only.

Through the same service as ``/api/v1/api-keys`` (``auth.apikeys``). A new key is shown once,
in the answer to the request that made it, with a button to copy it; it is never put in a
cookie or a redirect, and the pages are never cached (``Cache-Control: no-store``). Lists show
a key's public prefix only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from shopfloor.auth import apikeys
from shopfloor.auth.apikeys import KEY_MARK
from shopfloor.auth.models import ApiKey
from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import SCOPES, Permission
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, ShopfloorError
from shopfloor.web.admin.forms import FormState, form_values, optional, sentence
from shopfloor.web.admin.respond import admin_context, done, section
from shopfloor.web.deps import requires

router = APIRouter(dependencies=[Depends(requires(Permission.ADMIN))])
NAV = None
SECTION = "api-keys"
URL = "/admin/api-keys"
PAGE, FRAGMENT = "admin/api_keys/page.html", "admin/api_keys/section.html"
LIST_LIMIT = 500
LABELS = {"name": "Name", "scopes": "It may", "expires_at": "Expires"}
SCOPE_NOTES = {
    "ingest": "post readings (gateways, PLC bridges, importers)",
    "read": "read plant, readings, alarms and quality (dashboards, reports)",
}


@dataclass(frozen=True, slots=True)
class Created:
    """A key just made, with the one copy of it there will ever be."""

    key: ApiKey
    secret: str


def key_state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def new_key_form(values: dict[str, Any] | None = None) -> FormState:
    return FormState("new-key", values or {"scopes": ["ingest"]}, labels=LABELS)


async def _section(
    request: Request,
    *,
    status_code: int = 200,
    notice: str | None = None,
    create: FormState | None = None,
    created: Created | None = None,
    problem: str | None = None,
) -> Response:
    async with request.app.state.db.read() as session:
        keys = list(await apikeys.list_api_keys(session, limit=LIST_LIMIT))
    now = utcnow()
    context = admin_context(
        request,
        SECTION,
        keys=sorted(keys, key=lambda k: (key_state(k, now) != "active", -k.id)),
        states={key.id: key_state(key, now) for key in keys},
        truncated=len(keys) >= LIST_LIMIT,
        scopes=[(scope, f"{scope}: {SCOPE_NOTES.get(scope, '')}") for scope in SCOPES],
        key_mark=KEY_MARK,
        notice=notice,
        create=create or new_key_form(),
        created=created,
        problem=problem,
    )
    return section(request, PAGE, FRAGMENT, context, status_code)


@router.get(URL, name="admin_api_keys")
async def api_keys_page(request: Request) -> Response:
    return await _section(request)


def _expiry(raw: str | None, form: FormState) -> datetime | None:
    """The ``datetime-local`` value, read as UTC (the field says so)."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        form.errors["expires_at"] = "Give a date and time, such as 2026-12-31T18:00."
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.post(URL)
async def create_api_key(
    request: Request, principal: Principal = Depends(requires(Permission.ADMIN))
) -> Response:
    """As ``POST /api/v1/api-keys``: the answer is the only time the key is shown."""
    values = form_values(await request.form(), lists=("scopes",))
    form = new_key_form(values)
    name = str(values.get("name", ""))
    expires_at = _expiry(optional(values, "expires_at"), form)
    if form.failed:
        return await _section(request, status_code=422, create=form)
    try:
        async with request.app.state.db.write() as session:
            key, secret = await apikeys.create_api_key(
                session,
                name=name,
                scopes=values.get("scopes", []),
                created_by=principal.actor,
                expires_at=expires_at,
            )
    except IntegrityError:  # lost a race for the name
        form.errors["name"] = f"An API key is already named {name!r}."
        return await _section(request, status_code=409, create=form)
    except AlreadyExists as exc:
        form.errors["name"] = sentence(exc.detail)
        return await _section(request, status_code=exc.status, create=form)
    except ShopfloorError as exc:
        return await _section(request, status_code=exc.status, create=form.refuse(exc))
    # Never through done(): a redirect would have to carry the key in a cookie.
    return await _section(request, created=Created(key, secret))


@router.post(URL + "/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: int) -> Response:
    try:
        async with request.app.state.db.write() as session:
            key = await apikeys.revoke_api_key(session, key_id)
    except ShopfloorError as exc:
        return await _section(request, status_code=exc.status, problem=sentence(exc.detail))
    notice = f"The key {key.name} is revoked: requests with it are refused from now on."
    return done(request, URL, notice) or await _section(request, notice=notice)
