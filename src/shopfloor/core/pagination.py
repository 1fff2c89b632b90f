"""Cursor pagination: ``?limit=&cursor=`` in, ``{items, next_cursor}`` out.

Cursors are opaque to clients: a base64url JSON of the sort key of the last item served.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from shopfloor.core.errors import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type | None = None) -> Any:
    """The sort key in ``cursor``; with ``kind``, a key of another type is refused too."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest("cursor is not one this server issued") from exc
    if kind is not None and not isinstance(key, kind):
        raise BadRequest("cursor is not one this list issued")
    return key


def int_cursor(cursor: str | None, *, high: int, low: int = 0) -> int | None:
    """An integer sort key (an id, a sequence number) from ``cursor``, within [low, high]."""
    key = decode_cursor(cursor, int)
    if key is not None and not low <= key <= high:
        raise BadRequest("cursor is not one this list issued")
    return key


def page_of(
    items: Sequence[Any],
    limit: int,
    out: Any,
    key: Callable[[Any], Any] = attrgetter("id"),
) -> dict[str, Any]:
    """``{items, next_cursor}`` from rows fetched with ``limit + 1``: the extra row says there
    is more, and the cursor is the sort ``key`` of the last row served."""
    served = items[:limit]
    return {
        "items": [out.model_validate(item) for item in served],
        "next_cursor": encode_cursor(key(served[-1])) if len(items) > limit else None,
    }
