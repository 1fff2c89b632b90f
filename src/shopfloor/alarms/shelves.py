"""Shelves: maintenance windows during which no alarm opens under a path.

A shelf covers its ``scope`` (an asset or sensor path) and everything under it, from
``starts_at`` until ``ends_at``. Ending a shelf early sets ``ends_at`` to now; the record is
kept, with the number of occurrences it suppressed. Takes a session, never commits.

The alarm stage asks ``ShelfMatcher`` (built once per batch from ``active_shelves``) whether a
sensor path is shelved, and counts what it held back with ``count_suppressed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Shelf
from shopfloor.alarms.schemas import ShelfCreate, ShelfOut
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import ValidationFailed
from shopfloor.core.paths import ancestors
from shopfloor.plant import repository as plant
from shopfloor.storage.lookup import get_or_404


def is_active(shelf: Shelf, at: datetime) -> bool:
    return shelf.starts_at <= at < shelf.ends_at


def shelf_document(shelf: Shelf, at: datetime | None = None) -> dict[str, Any]:
    moment = at or utcnow()
    out = ShelfOut.model_validate(
        {
            "id": shelf.id,
            "scope": shelf.scope,
            "reason": shelf.reason,
            "starts_at": shelf.starts_at,
            "ends_at": shelf.ends_at,
            "created_by": shelf.created_by,
            "created_at": shelf.created_at,
            "suppressed": shelf.suppressed,
            "active": is_active(shelf, moment),
        }
    )
    return out.model_dump(mode="json")


async def create_shelf(session: AsyncSession, data: ShelfCreate, actor: str) -> Shelf:
    """Shelve ``data.scope`` from now; the scope must be an existing asset or sensor."""
    known = await plant.asset_by_path(session, data.scope) or await plant.sensor_by_path(
        session, data.scope
    )
    if known is None:
        msg = f"no asset or sensor has the path {data.scope!r}"
        raise ValidationFailed(msg, errors=[{"loc": ["scope"], "msg": msg, "type": "value_error"}])
    now = utcnow()
    ends_at = data.until if data.until is not None else now + timedelta(minutes=data.minutes or 0)
    shelf = Shelf(
        scope=data.scope,
        reason=data.reason,
        starts_at=now,
        ends_at=ends_at,
        created_by=actor,
        created_at=now,
        suppressed=0,
    )
    session.add(shelf)
    await session.flush()
    return shelf


async def list_shelves(
    session: AsyncSession,
    *,
    active: bool | None,
    at: datetime,
    before_id: int | None,
    limit: int,
) -> Sequence[Shelf]:
    """Shelves newest first; ``active`` True for those in force at ``at``, False for the rest."""
    query = select(Shelf).order_by(Shelf.id.desc()).limit(limit)
    in_force = (Shelf.starts_at <= at) & (Shelf.ends_at > at)
    if active is True:
        query = query.where(in_force)
    elif active is False:
        query = query.where(~in_force)
    if before_id is not None:
        query = query.where(Shelf.id < before_id)
    return (await session.scalars(query)).all()


async def get_shelf(session: AsyncSession, shelf_id: int) -> Shelf:
    return await get_or_404(session, Shelf, shelf_id, "shelf")


async def end_shelf(session: AsyncSession, shelf_id: int, at: datetime) -> Shelf:
    """End the shelf at ``at``; a shelf already over is left as it is."""
    shelf = await get_shelf(session, shelf_id)
    if shelf.ends_at > at:
        shelf.ends_at = max(at, shelf.starts_at)
        await session.flush()
    return shelf


async def active_shelves(session: AsyncSession, at: datetime | None = None) -> list[Shelf]:
    """The shelves in force at ``at`` (default now)."""
    moment = at or utcnow()
    query = select(Shelf).where(Shelf.starts_at <= moment, Shelf.ends_at > moment)
    return list((await session.scalars(query)).all())


async def count_suppressed(session: AsyncSession, shelf_id: int, occurrences: int) -> None:
    """Add ``occurrences`` held back by the shelf to its ``suppressed`` count."""
    if occurrences > 0:
        await session.execute(
            update(Shelf)
            .where(Shelf.id == shelf_id)
            .values(suppressed=Shelf.suppressed + occurrences)
            .execution_options(synchronize_session=False)
        )


class ShelfMatcher:
    """Which shelf, if any, covers a path: a few dictionary look-ups per path.

    Built from shelves (typically ``active_shelves``); each look-up still checks the shelf's
    window at the given moment, so a matcher kept for a while never applies an ended shelf.
    """

    def __init__(self, shelves: Iterable[Shelf]) -> None:
        self._by_scope: dict[str, list[Shelf]] = {}
        for shelf in shelves:
            self._by_scope.setdefault(shelf.scope, []).append(shelf)

    def __bool__(self) -> bool:
        return bool(self._by_scope)

    def covering(self, path: str, at: datetime | None = None) -> Shelf | None:
        """The shelf over ``path`` (or an ancestor of it) in force at ``at``; of several,
        the one that ends last."""
        if not self._by_scope:
            return None
        moment = at or utcnow()
        found: Shelf | None = None
        for scope in (*ancestors(path), path):
            for shelf in self._by_scope.get(scope, ()):
                if is_active(shelf, moment) and (found is None or shelf.ends_at > found.ends_at):
                    found = shelf
        return found


async def active_shelf_for(
    session: AsyncSession, path: str, at: datetime | None = None
) -> Shelf | None:
    """The shelf in force over ``path`` at ``at`` (default now), or None."""
    moment = at or utcnow()
    query = select(Shelf).where(
        Shelf.scope.in_([*ancestors(path), path]),
        Shelf.starts_at <= moment,
        Shelf.ends_at > moment,
    )
    return ShelfMatcher(await session.scalars(query)).covering(path, moment)
