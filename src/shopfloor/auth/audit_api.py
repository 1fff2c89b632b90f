"""HTTP: the audit log, newest first, and a check of its chain.

Who may read it (admins) is decided by the central policy, not here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from fastapi import APIRouter, Query, Request

from shopfloor.auth import audit
from shopfloor.auth.audit_schemas import AuditEntryOut, VerifyOut
from shopfloor.core.pagination import Page, int_cursor, page_of
from shopfloor.readings.timeparams import parse_time_param

router = APIRouter(tags=["audit"])
MAX_SEQ = 2**63 - 1
PATTERN = 'Exact, or a prefix ending in "*" ("alarm.*")'


def _time(param: str, raw: str | None) -> datetime | None:
    epoch_us = parse_time_param(param, raw)
    if epoch_us is None:
        return None
    seconds, micros = divmod(epoch_us, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)


@router.get(
    "/audit",
    response_model=Page[AuditEntryOut],
    summary="Every change and security event: who, what, when, from where; newest first",
)
async def list_audit(
    request: Request,
    actor: str | None = Query(None, max_length=200, description="Only this actor"),
    action: str | None = Query(None, max_length=100, description=PATTERN),
    target: str | None = Query(None, max_length=200, description=PATTERN + ', "asset/7"'),
    since: str | None = Query(None, description="At or after (RFC 3339 or epoch seconds)"),
    until: str | None = Query(None, description="Before (RFC 3339 or epoch seconds)"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = None,
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = await audit.list_entries(
            session,
            actor=actor,
            action=action,
            target=target,
            since=_time("since", since),
            until=_time("until", until),
            before_seq=int_cursor(cursor, low=1, high=MAX_SEQ),
            limit=limit + 1,
        )
    return page_of(items, limit, AuditEntryOut, key=attrgetter("seq"))


@router.get(
    "/audit/verify",
    response_model=VerifyOut,
    summary="Check the whole chain: hashes, links, no gaps, nothing cut from the end",
)
async def verify_audit(request: Request) -> VerifyOut:
    async with request.app.state.db.read() as session:
        result = await audit.verify(session)
    return VerifyOut(ok=result.ok, checked=result.checked, problem=result.problem, seq=result.seq)
