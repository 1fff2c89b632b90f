"""The live feed of one sensor's chart (topics ``sensor:<id>``): new readings, scores, alarms.

While someone watches a sensor, each poll reads
- the readings newer than the last one reported (events without a key: each batch of points
  counts, so they queue up for a slow browser rather than replace each other);
- the minutes of anomaly scores from the last one reported on (the current minute's maximum
  may still rise, so it is read again until a newer minute exists);
- the sensor's recent alarms, reported whole (key ``alarms``) when anything in them changed.

A reading stored late with a time before the newest one reported is not pushed (the chart
gets it on its next load); readings come in time order from every ordinary source.

Key ``newest`` carries the time of the newest reading reported so far: a browser that joins
(or rejoins) compares it with its own data and loads the chart again when it is behind, so
nothing that arrived between its load and its subscription goes missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.readings.columns import MAX_TS_US
from shopfloor.readings.store import ReadingStore
from shopfloor.storage import Database
from shopfloor.web.live.broadcaster import LiveEvent
from shopfloor.web.sensor_chart.query import AlarmMark, sensor_alarms

TOPIC_PREFIX = "sensor:"
NEWEST_KEY = "newest"
ALARMS_KEY = "alarms"
POINTS_PER_POLL = 5_000
ALARM_WINDOW_US = 90 * 86_400 * 1_000_000  # the longest range the chart offers


def sensor_topic(sensor_id: int) -> str:
    return f"{TOPIC_PREFIX}{sensor_id}"


@dataclass(frozen=True, slots=True)
class Points:
    ts_us: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, slots=True)
class ScoreMinutes:
    ts_us: np.ndarray
    maxima: np.ndarray


@dataclass(frozen=True, slots=True)
class Newest:
    ts_us: int
    value: float


@dataclass
class _Watch:
    """What has been reported of one sensor."""

    newest: Newest | None = None
    score_minute: int = -1  # the newest minute reported, or -1
    score_value: float = float("nan")
    alarms: tuple[AlarmMark, ...] | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)


class SensorChartFeed:
    """Polls the watched sensors' new readings, score minutes and alarms."""

    def __init__(self, store: ReadingStore) -> None:
        self.store = store
        self._watches: dict[int, _Watch] = {}

    def serves(self, topic: str) -> bool:
        return topic.startswith(TOPIC_PREFIX) and topic[len(TOPIC_PREFIX) :].isdigit()

    async def poll(self, db: Database, watched: frozenset[str]) -> list[LiveEvent]:
        ids = {int(topic[len(TOPIC_PREFIX) :]) for topic in watched}
        for gone in set(self._watches) - ids:
            del self._watches[gone]  # nobody watches it now: start afresh when someone does
        events: list[LiveEvent] = []
        async with db.read() as session:
            for sensor_id in sorted(ids):
                watch = self._watches.setdefault(sensor_id, _Watch())
                events += await self._poll_sensor(session, sensor_id, watch)
        return events

    def snapshot(self, topics: frozenset[str]) -> list[LiveEvent]:
        events = []
        for topic in topics:
            if not self.serves(topic):
                continue
            watch = self._watches.get(int(topic[len(TOPIC_PREFIX) :]))
            if watch is not None:
                events += [LiveEvent(topic, data, key) for key, data in watch.snapshot.items()]
        return events

    def forget(self) -> None:
        self._watches.clear()

    async def _poll_sensor(
        self, session: AsyncSession, sensor_id: int, watch: _Watch
    ) -> list[LiveEvent]:
        topic = sensor_topic(sensor_id)
        first = watch.alarms is None
        events: list[LiveEvent] = []
        if first:
            latest = await self.store.latest(session, [sensor_id])
            if latest:
                watch.newest = Newest(latest[0][1], latest[0][2])
        else:
            after = -1 if watch.newest is None else watch.newest.ts_us
            rows = await self.store.range(session, sensor_id, after + 1, MAX_TS_US, POINTS_PER_POLL)
            if rows:
                table = np.array(rows, dtype=np.float64)
                ts_us = table[:, 0].astype(np.int64)
                events.append(LiveEvent(topic, Points(ts_us, np.ascontiguousarray(table[:, 1]))))
                watch.newest = Newest(int(ts_us[-1]), float(table[-1, 1]))
        scores = await self._new_score_minutes(session, sensor_id, watch, report=not first)
        if scores is not None:
            events.append(LiveEvent(topic, scores))
        alarms = tuple(await sensor_alarms(session, sensor_id))
        if alarms != watch.alarms:
            watch.alarms = alarms
            watch.snapshot[ALARMS_KEY] = alarms
            events.append(LiveEvent(topic, alarms, ALARMS_KEY))
        if watch.newest is not None and watch.snapshot.get(NEWEST_KEY) != watch.newest:
            watch.snapshot[NEWEST_KEY] = watch.newest
            events.append(LiveEvent(topic, watch.newest, NEWEST_KEY))
        return events

    async def _new_score_minutes(
        self, session: AsyncSession, sensor_id: int, watch: _Watch, *, report: bool
    ) -> ScoreMinutes | None:
        if not report:
            # The first look: only where the scores stand, not their history (the chart has it).
            row = (
                await session.execute(
                    text(
                        "SELECT bucket_us, max_score FROM anomaly_scores_1m "
                        "WHERE sensor_id = :sid ORDER BY bucket_us DESC LIMIT 1"
                    ),
                    {"sid": sensor_id},
                )
            ).first()
            if row is not None:
                watch.score_minute, watch.score_value = int(row[0]), float(row[1])
            return None
        rows = (
            await session.execute(
                text(
                    "SELECT bucket_us, max_score FROM anomaly_scores_1m WHERE sensor_id = :sid "
                    "AND bucket_us >= :since ORDER BY bucket_us"
                ),
                {"sid": sensor_id, "since": max(watch.score_minute, 0)},
            )
        ).all()
        changed = [
            (int(bucket), float(score))
            for bucket, score in rows
            if bucket > watch.score_minute
            or (bucket == watch.score_minute and score != watch.score_value)
        ]
        if not changed:
            return None
        watch.score_minute, watch.score_value = changed[-1]
        return ScoreMinutes(
            np.array([bucket for bucket, _ in changed], dtype=np.int64),
            np.array([score for _, score in changed]),
        )
