"""Rows by id for the API: a 404 for an id that names nothing, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.errors import NotFound
from shopfloor.core.pagination import int_cursor

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns: a larger one cannot name a row
Row = TypeVar("Row")


def is_row_id(row_id: int) -> bool:
    return 0 < row_id <= MAX_ID


def id_cursor(cursor: str | None) -> int | None:
    """The id a list's cursor carries (the last id served)."""
    return int_cursor(cursor, high=MAX_ID + 1)


async def get_or_404(
    session: AsyncSession, model: type[Row], row_id: int, what: str, **options: Any
) -> Row:
    """The ``model`` row with ``row_id``, else ``NotFound`` saying "<what> <id> does not exist"."""
    row = await session.get(model, row_id, **options) if is_row_id(row_id) else None
    if row is None:
        raise NotFound(f"{what} {row_id} does not exist")
    return row


async def move_if_in_state(
    session: AsyncSession, model: Any, row_id: int, allowed: Sequence[str], values: dict[str, Any]
) -> bool:
    """Apply ``values`` to the row when its ``state`` is one of ``allowed``, in one conditional
    UPDATE, so that of two concurrent moves exactly one wins. False when nothing moved (no such
    row, or another state): the caller says which."""
    if not is_row_id(row_id):
        return False
    result = await session.execute(
        update(model)
        .where(model.id == row_id, model.state.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
