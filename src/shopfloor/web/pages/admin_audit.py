"""The audit log (``/admin/audit``): every change and sign-in, newest first. Administrators only.

The same entries as ``GET /api/v1/audit`` (``auth.audit.list_entries``), filtered by actor,
action (exact, or a prefix ending in ``*``) and time, a page at a time; and the check of the
whole hash chain that ``GET /api/v1/audit/verify`` makes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from shopfloor.auth import audit
from shopfloor.auth.models import AuditEntry
from shopfloor.auth.roles import Permission
from shopfloor.web.admin.forms import FormState
from shopfloor.web.admin.respond import FRAGMENT_HEADER, admin_context
from shopfloor.web.deps import requires
from shopfloor.web.errors import is_htmx
from shopfloor.web.templating import render

router = APIRouter(dependencies=[Depends(requires(Permission.ADMIN))])
NAV = None
SECTION = "audit"
PAGE_SIZE = 50
SUGGESTIONS = 200
MAX_SEQ = 2**63 - 1
VALUE_CHARS = 300
# Bookkeeping that every update carries: shown only when it is all that changed.
NOISE = frozenset({"updated_at"})
LABELS = {"actor": "Actor", "action": "Action", "since": "Since"}


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: str | None  # None: not part of that side (created, deleted)
    after: str | None


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def changes_of(entry: AuditEntry) -> list[FieldChange]:
    """What an entry changed, field by field (secrets already appear as ``***``)."""
    before, after = entry.before or {}, entry.after or {}
    fields = list(dict.fromkeys([*before, *after]))
    if any(name not in NOISE for name in fields):
        fields = [name for name in fields if name not in NOISE]
    return [
        FieldChange(
            name,
            _shown(before[name]) if name in before else None,
            _shown(after[name]) if name in after else None,
        )
        for name in fields
    ]


def _since(raw: str, form: FormState) -> datetime | None:
    """The ``datetime-local`` field, read as UTC (as it says); RFC 3339 with an offset too."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        form.errors["since"] = "Give a date and time, such as 2026-11-29T08:00."
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _suggestions(request: Request) -> tuple[list[str], list[str]]:
    """Actors and actions seen, for the filters' suggestions."""
    async with request.app.state.db.read() as session:
        actors = await session.scalars(
            select(AuditEntry.actor).distinct().order_by(AuditEntry.actor).limit(SUGGESTIONS)
        )
        actions = await session.scalars(
            select(AuditEntry.action).distinct().order_by(AuditEntry.action).limit(SUGGESTIONS)
        )
        return list(actors), list(actions)


@router.get("/admin/audit", name="admin_audit")
async def audit_page(
    request: Request,
    actor: str = Query("", max_length=200),
    action: str = Query("", max_length=100),
    since: str = Query("", max_length=40),
    before: int | None = Query(None, ge=1, le=MAX_SEQ),
) -> Response:
    actor, action, since = actor.strip(), action.strip(), since.strip()
    form = FormState("audit", {"actor": actor, "action": action, "since": since}, labels=LABELS)
    moment = _since(since, form)
    entries: list[AuditEntry] = []
    if not form.failed:
        async with request.app.state.db.read() as session:
            entries = await audit.list_entries(
                session,
                actor=actor or None,
                action=action or None,
                since=moment,
                before_seq=before,
                limit=PAGE_SIZE + 1,
            )
    shown = entries[:PAGE_SIZE]
    filters = {k: v for k, v in (("actor", actor), ("action", action), ("since", since)) if v}
    context = admin_context(
        request,
        SECTION,
        form=form,
        entries=shown,
        older=shown[-1].seq if len(entries) > PAGE_SIZE else None,
        before=before,
        filters=filters,
        changes_of=changes_of,
    )
    status = 422 if form.failed else 200
    if is_htmx(request):
        headers = {FRAGMENT_HEADER: "in-place"} if form.failed else None
        return render(request, "admin/audit/results.html", context, status, headers, page=False)
    context["actors"], context["actions"] = await _suggestions(request)
    return render(request, "admin/audit/page.html", context, status)


@router.get("/admin/audit/verify", name="admin_audit_verify")
async def verify_chain(request: Request) -> Response:
    """Check every entry's hash and link, as ``GET /api/v1/audit/verify``."""
    async with request.app.state.db.read() as session:
        result = await audit.verify(session)
    return render(request, "admin/audit/verify.html", {"result": result}, page=False)
