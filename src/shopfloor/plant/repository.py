"""Queries over assets and sensors."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.paths import subtree_bounds
from shopfloor.plant.models import Asset, Sensor


def _under(column, path: str | None):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    lo, hi = subtree_bounds(path)
    return or_(column == path, (column >= lo) & (column < hi))


async def asset_by_path(session: AsyncSession, path: str) -> Asset | None:
    return await session.scalar(select(Asset).where(Asset.path == path))


async def sensor_by_path(session: AsyncSession, path: str) -> Sensor | None:
    return await session.scalar(select(Sensor).where(Sensor.path == path))


async def list_assets(
    session: AsyncSession, under: str | None, after_path: str | None, limit: int
) -> Sequence[Asset]:
    query = select(Asset).order_by(Asset.path).limit(limit)
    if (condition := _under(Asset.path, under)) is not None:
        query = query.where(condition)
    if after_path is not None:
        query = query.where(Asset.path > after_path)
    return (await session.scalars(query)).all()


async def list_sensors(
    session: AsyncSession, under: str | None, after_path: str | None, limit: int | None
) -> Sequence[Sensor]:
    query = select(Sensor).order_by(Sensor.path)
    if limit is not None:
        query = query.limit(limit)
    if (condition := _under(Sensor.path, under)) is not None:
        query = query.where(condition)
    if after_path is not None:
        query = query.where(Sensor.path > after_path)
    return (await session.scalars(query)).all()


async def sensor_ids_by_path(session: AsyncSession, paths: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        rows = await session.execute(select(Sensor.path, Sensor.id).where(Sensor.path.in_(chunk)))
        found.update({path: sensor_id for path, sensor_id in rows.all()})
    return found


async def asset_has_dependents(session: AsyncSession, asset_id: int) -> bool:
    child = exists().where(Asset.parent_id == asset_id)
    sensor = exists().where(Sensor.asset_id == asset_id)
    return bool(await session.scalar(select(or_(child, sensor))))
