"""Cursor pagination: ``?limit=&cursor=`` in, ``{items, next_cursor}`` out.

Cursors are opaque to clients: a base64url JSON of the sort key of the last item served.
"""

from __future__ import annotations

import base64
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
