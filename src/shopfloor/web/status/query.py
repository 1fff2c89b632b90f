"""Reading what the plant's states are computed from, in one read transaction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shopfloor.alarms.models import Alarm
from shopfloor.alarms.shelves import ShelfMatcher, active_shelves
from shopfloor.alarms.transitions import ACTIVE
from shopfloor.core.clock import to_epoch_us, utcnow
from shopfloor.plant.models import Asset, Sensor
from shopfloor.readings.store import ReadingStore
from shopfloor.web.status.rules import AssetFacts, PlantFacts, SensorFacts


async def read_plant_facts(session: AsyncSession, store: ReadingStore) -> PlantFacts:
    now = utcnow()
    asset_rows = (
        await session.execute(
            select(Asset.id, Asset.path, Asset.kind, Asset.name).order_by(Asset.path)
        )
    ).all()
    assets = tuple(AssetFacts(*row) for row in asset_rows)
    sensor_rows = (
        await session.execute(
            select(
                Sensor.id,
                Sensor.path,
                Asset.path,
                Sensor.low_limit,
                Sensor.high_limit,
                Sensor.sampling_interval_s,
            )
            .join(Asset, Asset.id == Sensor.asset_id)
            .order_by(Sensor.path)
        )
    ).all()
    sensors = tuple(SensorFacts(*row) for row in sensor_rows)
    latest = {
        sensor_id: (ts_us, value)
        for sensor_id, ts_us, value in await store.latest(session, [s.id for s in sensors])
    }
    matcher = ShelfMatcher(await active_shelves(session, now))
    shelved = {}
    for asset in assets:
        shelf = matcher.covering(asset.path, now)
        if shelf is not None:
            shelved[asset.path] = (
                f"shelved until {shelf.ends_at:%Y-%m-%d %H:%M} UTC: {shelf.reason}"
            )
    return PlantFacts(
        assets=assets,
        sensors=sensors,
        latest=latest,
        open_alarms=await open_alarms_by_path(session),
        shelved=shelved,
        now_us=to_epoch_us(now),
    )


async def open_alarms_by_path(session: AsyncSession) -> dict[str, int]:
    """Alarms not resolved, by the path of their subject: a sensor, an asset, or where an
    alarm without either is filed (SPC alarms, under a line)."""
    owner = aliased(Asset)
    subject = func.coalesce(Sensor.path, owner.path, Alarm.subject_path)
    rows = await session.execute(
        select(subject, func.count())
        .select_from(Alarm)
        .outerjoin(Sensor, Sensor.id == Alarm.sensor_id)
        .outerjoin(owner, owner.id == Alarm.asset_id)
        .where(Alarm.state.in_(ACTIVE))
        .group_by(subject)
    )
    return {path: int(count) for path, count in rows.all() if path}
