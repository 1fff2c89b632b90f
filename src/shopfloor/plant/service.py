"""Plant logic: the tree's rules. Takes a session, never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, Conflict, ValidationFailed
from shopfloor.core.paths import ASSET_KINDS, ancestors, default_kind_for_depth, parent_path
from shopfloor.plant import repository
from shopfloor.plant.models import Asset, Sensor
from shopfloor.plant.schemas import AssetCreate, AssetUpdate, SensorCreate, SensorUpdate
from shopfloor.readings.store import ReadingStore
from shopfloor.storage.lookup import get_or_404


def _field_error(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": [field], "msg": msg, "type": "value_error"}])


async def _ensure_path_free(session: AsyncSession, path: str) -> None:
    if await repository.asset_by_path(session, path) is not None:
        raise AlreadyExists(f"an asset already has the path {path!r}")
    if await repository.sensor_by_path(session, path) is not None:
        raise AlreadyExists(f"a sensor already has the path {path!r}")


async def create_asset(session: AsyncSession, data: AssetCreate) -> Asset:
    await _ensure_path_free(session, data.path)
    parent = None
    if (parent_of := parent_path(data.path)) is not None:
        parent = await repository.asset_by_path(session, parent_of)
        if parent is None:
            raise _field_error(
                "path", f"parent asset {parent_of!r} does not exist; create it first"
            )
        if ASSET_KINDS.index(data.kind) < ASSET_KINDS.index(parent.kind):
            raise _field_error(
                "kind", f"a {data.kind} cannot sit under a {parent.kind} in the ISA-95 hierarchy"
            )
    now = utcnow()
    asset = Asset(
        path=data.path,
        parent_id=parent.id if parent else None,
        kind=data.kind,
        name=data.name or data.path.rsplit("/", 1)[-1],
        attributes=data.attributes,
        created_at=now,
        updated_at=now,
    )
    session.add(asset)
    await session.flush()
    return asset


async def get_asset(session: AsyncSession, asset_id: int) -> Asset:
    return await get_or_404(session, Asset, asset_id, "asset")


async def update_asset(session: AsyncSession, asset_id: int, data: AssetUpdate) -> Asset:
    asset = await get_asset(session, asset_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is not None:
        asset.name = changes["name"]
    if changes.get("attributes") is not None:
        asset.attributes = changes["attributes"]
    asset.updated_at = utcnow()
    await session.flush()
    return asset


async def delete_asset(session: AsyncSession, asset_id: int) -> None:
    asset = await get_asset(session, asset_id)
    if await repository.asset_has_dependents(session, asset_id):
        raise Conflict(
            f"asset {asset.path!r} still has assets or sensors under it; delete them first"
        )
    await session.delete(asset)
    await session.flush()


async def create_sensor(session: AsyncSession, data: SensorCreate) -> Sensor:
    await _ensure_path_free(session, data.path)
    parent_of = parent_path(data.path)
    asset = await repository.asset_by_path(session, parent_of) if parent_of else None
    if asset is None:
        raise _field_error("path", "a sensor's parent path must be an existing asset")
    return await _add_sensor(session, asset, data)


async def _add_sensor(session: AsyncSession, asset: Asset, data: SensorCreate) -> Sensor:
    now = utcnow()
    fields = data.model_dump(exclude={"path", "name"})
    sensor = Sensor(
        path=data.path,
        asset_id=asset.id,
        name=data.name or data.path.rsplit("/", 1)[-1],
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(sensor)
    await session.flush()
    return sensor


async def register_sensor(session: AsyncSession, path: str) -> Sensor:
    """Create a sensor met for the first time in a reading, with any missing ancestors."""
    parent = None
    for depth, ancestor in enumerate(ancestors(path), start=1):
        asset = await repository.asset_by_path(session, ancestor)
        if asset is None:
            kind = default_kind_for_depth(depth)
            if parent is not None and ASSET_KINDS.index(kind) < ASSET_KINDS.index(parent.kind):
                kind = parent.kind
            asset = await create_asset(session, AssetCreate(path=ancestor, kind=kind))  # type: ignore[arg-type]
        parent = asset
    if parent is None:
        raise _field_error("sensor", f"sensor path {path!r} needs at least one asset above it")
    return await _add_sensor(session, parent, SensorCreate(path=path))


async def get_sensor(session: AsyncSession, sensor_id: int) -> Sensor:
    return await get_or_404(session, Sensor, sensor_id, "sensor")


async def update_sensor(session: AsyncSession, sensor_id: int, data: SensorUpdate) -> Sensor:
    sensor = await get_sensor(session, sensor_id)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(sensor, field, value)
    low, high = sensor.low_limit, sensor.high_limit
    if low is not None and high is not None and low >= high:
        raise _field_error("low_limit", "low_limit must be below high_limit")
    sensor.updated_at = utcnow()
    await session.flush()
    return sensor


async def delete_sensor(session: AsyncSession, store: ReadingStore, sensor_id: int) -> Sensor:
    sensor = await get_sensor(session, sensor_id)
    await store.delete_sensor(session, sensor_id)
    await session.delete(sensor)
    await session.flush()
    return sensor
