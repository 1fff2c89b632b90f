"""What the quality routers share: id filters and cursors, pages, and idempotent creates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Query, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.errors import AlreadyExists, BadRequest
from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import decode_cursor, encode_cursor
from shopfloor.storage.lookup import MAX_ID

LIMIT = Query(100, ge=1, le=1000)


def id_filter(description: str) -> Any:
    return Query(None, ge=1, le=MAX_ID, description=description)


def id_cursor(cursor: str | None) -> int | None:
    key = decode_cursor(cursor, int)
    if key is not None and not 0 <= key <= MAX_ID + 1:
        raise BadRequest("cursor is not one this list issued")
    return key


def page(items: list[Any], limit: int, out: Any) -> dict[str, Any]:
    """Ascending by id: the cursor is the last id served."""
    more = len(items) > limit
    items = items[:limit]
    return {
        "items": [out.model_validate(item) for item in items],
        "next_cursor": encode_cursor(items[-1].id) if more else None,
    }


async def create_idempotently(
    request: Request,
    payload: Any,
    make: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
    taken: str,
) -> Response:
    """``create_once``; a unique name lost to a concurrent request is 409 like a taken one."""
    try:
        return await create_once(request.app.state.db, request, payload, make)
    except IntegrityError:
        raise AlreadyExists(taken) from None
