"""What every readings store does, and the dialect-free parts: batches, rollup deltas, planning.

Times cross this boundary as int64 microseconds since the epoch (UTC); each dialect converts
to its own column type.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.storage import Database

MINUTE_US = 60 * 1_000_000
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
# Coarsest first: the planner takes the widest rollup that fits a range.
ROLLUPS: tuple[tuple[str, int], ...] = (
    ("readings_1d", DAY_US),
    ("readings_1h", HOUR_US),
    ("readings_1m", MINUTE_US),
)


@dataclass(frozen=True)
class Batch:
    """Readings sorted by (sensor_id, ts) with no repeated pair."""

    sensor_ids: np.ndarray
    ts_us: np.ndarray
    values: np.ndarray

    @classmethod
    def build(cls, sensor_ids: np.ndarray, ts_us: np.ndarray, values: np.ndarray) -> Batch:
        order = np.lexsort((ts_us, sensor_ids))
        sensor_ids, ts_us, values = sensor_ids[order], ts_us[order], values[order]
        if len(order) > 1:
            repeat = (sensor_ids[1:] == sensor_ids[:-1]) & (ts_us[1:] == ts_us[:-1])
            if repeat.any():
                keep = np.concatenate(([True], ~repeat))
                sensor_ids, ts_us, values = sensor_ids[keep], ts_us[keep], values[keep]
        return cls(sensor_ids.astype(np.int64), ts_us.astype(np.int64), values.astype(np.float64))

    def __len__(self) -> int:
        return len(self.ts_us)


@dataclass(frozen=True)
class RollupDelta:
    sensor_ids: np.ndarray
    buckets_us: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    sums: np.ndarray
    counts: np.ndarray

    def rows(self) -> list[tuple[int, int, float, float, float, int]]:
        return list(
            zip(
                self.sensor_ids.tolist(),
                self.buckets_us.tolist(),
                self.mins.tolist(),
                self.maxs.tolist(),
                self.sums.tolist(),
                self.counts.tolist(),
                strict=True,
            )
        )


def rollup_delta(batch: Batch, width_us: int) -> RollupDelta:
    """min/max/sum/count per (sensor, bucket) of a sorted batch, without a Python loop."""
    buckets = batch.ts_us - batch.ts_us % width_us
    starts_mask = np.ones(len(batch), dtype=bool)
    starts_mask[1:] = (batch.sensor_ids[1:] != batch.sensor_ids[:-1]) | (
        buckets[1:] != buckets[:-1]
    )
    starts = np.flatnonzero(starts_mask)
    counts = np.diff(np.append(starts, len(batch)))
    return RollupDelta(
        sensor_ids=batch.sensor_ids[starts],
        buckets_us=buckets[starts],
        mins=np.minimum.reduceat(batch.values, starts),
        maxs=np.maximum.reduceat(batch.values, starts),
        sums=np.add.reduceat(batch.values, starts),
        counts=counts,
    )


@dataclass(frozen=True)
class Piece:
    """One query of an aggregate plan: ``table`` (None = raw readings) over ``[start, end)``."""

    table: str | None
    start_us: int
    end_us: int


def plan_aggregate(start_us: int, end_us: int, step_us: int) -> list[Piece]:
    """Cover ``[start, end)`` with the coarsest rollups whose buckets fit inside it.

    A rollup can serve a span only if its width divides the step (its buckets never straddle
    two steps) and the span is aligned to that width; the ragged edges fall through to finer
    rollups and finally to raw readings.
    """
    usable = [(table, width) for table, width in ROLLUPS if step_us % width == 0]
    return _cover(start_us, end_us, usable)


def _cover(start_us: int, end_us: int, rollups: list[tuple[str, int]]) -> list[Piece]:
    if start_us >= end_us:
        return []
    if not rollups:
        return [Piece(None, start_us, end_us)]
    (table, width), finer = rollups[0], rollups[1:]
    lo = -(-start_us // width) * width
    hi = end_us // width * width
    if lo >= hi:
        return _cover(start_us, end_us, finer)
    return [*_cover(start_us, lo, finer), Piece(table, lo, hi), *_cover(hi, end_us, finer)]


@dataclass(frozen=True)
class Buckets:
    """Aggregates per bucket, as parallel arrays sorted by bucket start."""

    ts_us: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    sums: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_us)


AggregateRow = tuple[int, float, float, float, int]


def merge_buckets(parts: list[list[AggregateRow]]) -> Buckets:
    """Combine the pieces of a plan: a step bucket may be split between a rollup and raw rows."""
    rows = [row for part in parts for row in part]
    if not rows:
        empty = np.zeros(0)
        return Buckets(empty.astype(np.int64), empty, empty, empty, empty.astype(np.int64))
    ts_us = np.fromiter((row[0] for row in rows), np.int64, len(rows))
    table = np.array([row[1:] for row in rows], dtype=np.float64)
    order = np.argsort(ts_us, kind="stable")
    ts_us, table = ts_us[order], table[order]
    starts = np.flatnonzero(np.concatenate(([True], ts_us[1:] != ts_us[:-1])))
    return Buckets(
        ts_us=ts_us[starts],
        mins=np.minimum.reduceat(table[:, 0], starts),
        maxs=np.maximum.reduceat(table[:, 1], starts),
        sums=np.add.reduceat(table[:, 2], starts),
        counts=np.add.reduceat(table[:, 3], starts).astype(np.int64),
    )


class ReadingStore(ABC):
    dialect: str

    async def start(self, db: Database) -> None:  # noqa: B027 - most stores need nothing
        """Prepare what the store needs before the first write (run at start-up)."""

    @abstractmethod
    async def write(self, session: AsyncSession, batch: Batch) -> Batch:
        """Store the batch in the session's transaction; return the rows that were new."""

    @abstractmethod
    async def range(
        self,
        session: AsyncSession,
        sensor_id: int,
        start_us: int,
        end_us: int,
        limit: int,
        *,
        newest_first: bool = False,
    ) -> list[tuple[int, float]]:
        """Raw readings with ``start <= ts < end``, oldest first (or newest first), at most
        ``limit``: the oldest (newest) ``limit`` of them."""

    @abstractmethod
    async def _aggregate_piece(
        self, session: AsyncSession, sensor_id: int, piece: Piece, step_us: int
    ) -> list[AggregateRow]: ...

    async def aggregate(
        self, session: AsyncSession, sensor_id: int, start_us: int, end_us: int, step_us: int
    ) -> Buckets:
        parts = [
            await self._aggregate_piece(session, sensor_id, piece, step_us)
            for piece in plan_aggregate(start_us, end_us, step_us)
        ]
        return merge_buckets(parts)

    @abstractmethod
    async def latest(
        self, session: AsyncSession, sensor_ids: list[int]
    ) -> list[tuple[int, int, float]]:
        """(sensor_id, ts, value) of the newest reading of each sensor that has one."""

    @abstractmethod
    async def bounds(self, session: AsyncSession, sensor_id: int) -> tuple[int, int] | None:
        """First and last timestamp of a sensor, or None when it has no readings."""

    @abstractmethod
    async def delete_sensor(self, session: AsyncSession, sensor_id: int) -> None: ...
