"""Anomaly scores kept for people to look back at: each sensor's highest score per minute.

The ``detect`` stage publishes every score on the bus, where the alarm stage reads them; they
were not kept anywhere. A chart of a sensor wants them for days back, so the stage hands them
to a ``ScoreKeeper``, which folds them into per-minute maxima in memory and writes those every
couple of seconds (and on stop) into ``anomaly_scores_1m``. Writing a maximum is idempotent: a
replayed message, or one handled by two workers, rewrites the same value. What was not yet
written when a process dies is lost (a few seconds of one chart band), never the alarms, which
come from the bus.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import numpy as np
import structlog
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.detection.models import AnomalyScoreMinute
from shopfloor.plant.models import Sensor
from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.detection.scores")

MINUTE_US = 60_000_000
FLUSH_INTERVAL_S = 2.0
WRITE_CHUNK = 2_000
INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# The larger of two values: PostgreSQL's greatest(), SQLite's two-argument max().
GREATEST = {"postgresql": func.greatest, "sqlite": func.max}

Key = tuple[int, int]  # (sensor id, minute start in epoch µs)


def minute_maxima(ts_us: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minutes the readings fall in and the highest finite score of each, sorted."""
    ts_us = np.asarray(ts_us, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    ts_us, scores = ts_us[finite], scores[finite]
    if not len(ts_us):
        return np.zeros(0, np.int64), np.zeros(0)
    buckets = ts_us - ts_us % MINUTE_US
    order = np.argsort(buckets, kind="stable")
    buckets, scores = buckets[order], scores[order]
    starts = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    return buckets[starts], np.maximum.reduceat(scores, starts)


class ScoreKeeper:
    """Collects scores as the stage makes them; writes the per-minute maxima now and then."""

    def __init__(self, db: Database, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.db = db
        self.interval_s = interval_s
        self._pending: dict[Key, float] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, sensor_id: int, ts_us: np.ndarray, scores: np.ndarray) -> None:
        buckets, maxima = minute_maxima(ts_us, scores)
        pending = self._pending
        for bucket, score in zip(buckets.tolist(), maxima.tolist(), strict=True):
            key = (sensor_id, bucket)
            known = pending.get(key)
            if known is None or score > known:
                pending[key] = score

    async def flush(self) -> int:
        """Write what was collected; returns how many minutes were written."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                await self._write(batch)
            except BaseException:
                for key, score in batch.items():  # keep them (as maxima) for the next attempt
                    if score > self._pending.get(key, -np.inf):
                        self._pending[key] = score
                raise
            return len(batch)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="anomaly-score-keeper")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:  # stopping anyway: say what was not kept
            log.warning("anomaly scores not written", minutes=self.pending, error=str(exc))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except Exception as exc:  # the next tick tries again with these and newer ones
                log.warning("anomaly scores not written yet", error=str(exc))

    async def _write(self, batch: dict[Key, float]) -> None:
        rows = [
            {"sensor_id": sid, "bucket_us": bucket, "max_score": score}
            for (sid, bucket), score in sorted(batch.items())  # one lock order for all writers
        ]
        try:
            async with self.db.write() as session:
                await upsert_maxima(session, rows)
        except IntegrityError:
            # A sensor was deleted meanwhile: its minutes go with it, the others are kept.
            async with self.db.write() as session:
                ids = {row["sensor_id"] for row in rows}
                alive = set(
                    (await session.scalars(select(Sensor.id).where(Sensor.id.in_(ids)))).all()
                )
                await upsert_maxima(session, [row for row in rows if row["sensor_id"] in alive])


async def upsert_maxima(session: AsyncSession, rows: list[dict[str, float]]) -> None:
    """Insert minutes, or raise a stored minute's maximum to the new score when higher."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = INSERTS[dialect](AnomalyScoreMinute)
    statement = statement.on_conflict_do_update(
        index_elements=[AnomalyScoreMinute.sensor_id, AnomalyScoreMinute.bucket_us],
        set_={
            "max_score": GREATEST[dialect](
                AnomalyScoreMinute.max_score, statement.excluded.max_score
            )
        },
    )
    for start in range(0, len(rows), WRITE_CHUNK):
        await session.execute(statement, rows[start : start + WRITE_CHUNK])


async def score_buckets(
    session: AsyncSession, sensor_id: int, start_us: int, end_us: int, step_us: int
) -> tuple[np.ndarray, np.ndarray]:
    """The highest score per ``step_us`` bucket (at least a minute) in ``[start, end)``."""
    step_us = max(MINUTE_US, step_us - step_us % MINUTE_US)
    rows = (
        await session.execute(
            text(
                "SELECT bucket_us - bucket_us % :step AS b, max(max_score) "
                "FROM anomaly_scores_1m WHERE sensor_id = :sid AND bucket_us >= :lo "
                "AND bucket_us < :hi GROUP BY b ORDER BY b"
            ),
            {"sid": sensor_id, "lo": start_us, "hi": end_us, "step": step_us},
        )
    ).all()
    ts_us = np.fromiter((row[0] for row in rows), np.int64, len(rows))
    maxima = np.fromiter((row[1] for row in rows), np.float64, len(rows))
    return ts_us, maxima
