"""Query parameters the quality routers share."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from shopfloor.storage.lookup import MAX_ID

LIMIT = Query(100, ge=1, le=1000)


def id_filter(description: str) -> Any:
    return Query(None, ge=1, le=MAX_ID, description=description)
