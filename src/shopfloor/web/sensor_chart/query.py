"""Reading what the sensor page shows: the sensor, its alarms, and its chart over a range.

The chart's data goes to the browser as columns (epoch seconds and values), the shape uPlot
draws from, so that thousands of points cost one array each rather than an object each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm
from shopfloor.core.clock import to_epoch_us
from shopfloor.detection.score_store import score_buckets
from shopfloor.plant import service as plant_service
from shopfloor.plant.models import Asset
from shopfloor.readings.store import ReadingStore
from shopfloor.web.sensor_chart.ranges import (
    MAX_RAW_POINTS,
    MINUTE_US,
    TimeRange,
    describe_step,
    fine_step,
    window,
)

US = 1_000_000
ALARMS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class SensorView:
    id: int
    path: str
    name: str
    unit: str | None
    low: float | None
    high: float | None
    sampling_interval_s: float | None
    detector: str
    detector_is_default: bool
    asset_id: int
    asset_path: str
    asset_name: str

    def limits(self) -> dict[str, float | None]:
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class AlarmMark:
    """An alarm as the chart marks it and the list below it shows it."""

    id: int
    severity: str
    state: str
    rule: str
    kind: str
    message: str
    count: int
    opened_us: int
    last_seen_us: int

    @property
    def active(self) -> bool:
        return self.state in ("open", "acknowledged")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "state": self.state,
            "rule": self.rule,
            "message": self.message,
            "count": self.count,
            "opened_at": self.opened_us / US,
            "last_seen_at": self.last_seen_us / US,
            "url": f"/alarms/{self.id}",
        }


async def load_sensor(session: AsyncSession, sensor_id: int, default_detector: str) -> SensorView:
    """The sensor (``NotFound`` when there is none), as the page describes it."""
    sensor = await plant_service.get_sensor(session, sensor_id)
    asset = await session.get(Asset, sensor.asset_id)
    return SensorView(
        id=sensor.id,
        path=sensor.path,
        name=sensor.name,
        unit=sensor.unit,
        low=sensor.low_limit,
        high=sensor.high_limit,
        sampling_interval_s=sensor.sampling_interval_s,
        detector=sensor.detector or default_detector,
        detector_is_default=sensor.detector is None,
        asset_id=sensor.asset_id,
        asset_path=asset.path if asset else sensor.path.rpartition("/")[0],
        asset_name=asset.name if asset else "",
    )


async def sensor_alarms(
    session: AsyncSession, sensor_id: int, since_us: int | None = None
) -> list[AlarmMark]:
    """The sensor's alarms seen at or after ``since_us`` (all when None), newest first."""
    statement = (
        select(
            Alarm.id,
            Alarm.severity,
            Alarm.state,
            Alarm.rule,
            Alarm.kind,
            Alarm.message,
            Alarm.count,
            Alarm.opened_at,
            Alarm.last_seen_at,
        )
        .where(Alarm.sensor_id == sensor_id)
        .order_by(Alarm.opened_at.desc(), Alarm.id.desc())
        .limit(ALARMS_SHOWN)
    )
    if since_us is not None:
        since = datetime.fromtimestamp(since_us / US, UTC)
        statement = statement.where(Alarm.last_seen_at >= since)
    rows = (await session.execute(statement)).all()
    return [
        AlarmMark(*row[:7], opened_us=to_epoch_us(row[7]), last_seen_us=to_epoch_us(row[8]))
        for row in rows
    ]


async def latest_reading(
    session: AsyncSession, store: ReadingStore, sensor_id: int
) -> tuple[int, float] | None:
    rows = await store.latest(session, [sensor_id])
    return (rows[0][1], rows[0][2]) if rows else None


async def chart_data(
    session: AsyncSession,
    store: ReadingStore,
    sensor: SensorView,
    chosen: TimeRange,
    now_us: int,
) -> dict[str, Any]:
    """Everything the chart draws for ``chosen`` ending at ``now_us``, as columns."""
    step_us = chosen.every_us
    series: dict[str, Any] | None = None
    if step_us is None:
        start_us, end_us = window(chosen, now_us, None)
        rows = await store.range(session, sensor.id, start_us, end_us, MAX_RAW_POINTS + 1)
        if len(rows) <= MAX_RAW_POINTS:
            table = np.array(rows, dtype=np.float64).reshape(-1, 2)
            series = {"x": table[:, 0] / US, "value": np.ascontiguousarray(table[:, 1])}
        else:
            step_us = fine_step(chosen.span_us)  # a fast sensor: buckets even here
    if series is None:
        assert step_us is not None
        start_us, end_us = window(chosen, now_us, step_us)
        buckets = await store.aggregate(session, sensor.id, start_us, end_us, step_us)
        series = {
            "x": buckets.ts_us / US,
            "min": buckets.mins,
            "max": buckets.maxs,
            "mean": buckets.sums / np.maximum(buckets.counts, 1),
            "count": buckets.counts,
        }
    score_step = max(step_us or MINUTE_US, MINUTE_US)
    score_ts, score_max = await score_buckets(session, sensor.id, start_us, end_us, score_step)
    latest = await latest_reading(session, store, sensor.id)
    alarms = await sensor_alarms(session, sensor.id, since_us=start_us)
    return {
        "sensor": sensor.id,
        "range": chosen.key,
        "mode": "raw" if step_us is None else "buckets",
        "every": None if step_us is None else describe_step(step_us),
        "every_s": None if step_us is None else step_us / US,
        "start": start_us / US,
        "end": end_us / US,
        "series": series,
        "scores": {"x": score_ts / US, "max": score_max, "every_s": score_step / US},
        "limits": sensor.limits(),
        "unit": sensor.unit,
        "latest": None if latest is None else {"x": latest[0] / US, "value": latest[1]},
        "alarms": [alarm.as_json() for alarm in alarms],
    }
