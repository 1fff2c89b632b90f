"""``Idempotency-Key`` on create calls: the same key returns the first response again.

The stored response is written in the same transaction as the thing it created, so a key is
either fully used (resource and response both committed) or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, BadRequest, IdempotencyKeyReused
from shopfloor.storage.base import Base

MAX_KEY_LENGTH = 200


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def request_fingerprint(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def replay(
    session: AsyncSession, scope: str, key: str, fingerprint: str
) -> tuple[int, dict[str, Any]] | None:
    """The stored response for ``key``, or None when the key is new.

    Reusing a key for a different request is a client bug that must not pass silently.
    """
    record = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    )
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was already used for a different request body."
        )
    return record.status_code, record.response


def remember(
    session: AsyncSession,
    scope: str,
    key: str,
    fingerprint: str,
    status_code: int,
    response: dict[str, Any],
) -> None:
    session.add(
        IdempotencyRecord(
            scope=scope,
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response=response,
        )
    )


async def create_once(
    db: Any,
    request: Any,
    payload: Any,
    create: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
    status_code: int = 201,
    *,
    taken: str | None = None,
) -> JSONResponse:
    """Run ``create`` in one transaction, honouring the request's ``Idempotency-Key``.

    Two concurrent requests with one key race on the key's primary key: the loser rolls back
    and answers with the winner's stored response. ``taken`` is the 409 for a unique name
    that a concurrent request took first (an IntegrityError that is no replay).
    """
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    scope = f"{request.method} {request.url.path}"
    fingerprint = request_fingerprint(payload)
    if key is not None:
        async with db.read() as session:
            stored = await replay(session, scope, key, fingerprint)
        if stored is not None:
            return _replayed(*stored)
    try:
        async with db.write() as session:
            body = await create(session)
            if key is not None:
                remember(session, scope, key, fingerprint, status_code, jsonable_encoder(body))
    except IntegrityError:
        stored = None
        if key is not None:
            async with db.read() as session:
                stored = await replay(session, scope, key, fingerprint)
        if stored is not None:
            return _replayed(*stored)
        if taken is not None:
            raise AlreadyExists(taken) from None
        raise
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


def _replayed(status_code: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Idempotent-Replayed": "true"})
