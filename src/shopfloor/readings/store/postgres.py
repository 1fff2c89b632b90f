"""PostgreSQL: readings range-partitioned by month, written with one array statement.

The insert, the duplicate check and all three rollup merges are a single statement: the
``RETURNING`` rows of the insert are exactly the new readings, so the rollups stay exact even
with many writers inserting concurrently.
"""

from __future__ import annotations

import time
from contextlib import suppress
from datetime import UTC, datetime

import asyncpg
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.readings.store.base import ROLLUPS, AggregateRow, Batch, Piece, ReadingStore
from shopfloor.storage import Database

US_OF = "(extract(epoch from {0}) * 1000000)::bigint"
TS_OF = "(timestamptz 'epoch' + ({0})::bigint * interval '1 microsecond')"

_TRUNC = {"readings_1m": "minute", "readings_1h": "hour", "readings_1d": "day"}


def _merge_cte(table: str) -> str:
    unit = _TRUNC[table]
    return (
        f"{table}_merge AS (INSERT INTO {table} AS r "
        "(sensor_id, bucket, min_value, max_value, sum_value, count) "
        f"SELECT sensor_id, date_trunc('{unit}', ts, 'UTC'), min(value), max(value), sum(value), "
        "count(*) FROM inserted GROUP BY 1, 2 ORDER BY 1, 2 "
        "ON CONFLICT (sensor_id, bucket) DO UPDATE SET "
        "min_value = least(r.min_value, excluded.min_value), "
        "max_value = greatest(r.max_value, excluded.max_value), "
        "sum_value = r.sum_value + excluded.sum_value, count = r.count + excluded.count)"
    )


# Every writer locks rollup rows in (sensor, bucket) order, table by table, so that concurrent
# batches touching the same buckets queue behind each other instead of deadlocking.
WRITE = (
    "WITH inserted AS (INSERT INTO readings (sensor_id, ts, value) "
    f"SELECT s, {TS_OF.format('t')}, v FROM unnest($1::int[], $2::bigint[], $3::float8[]) "
    "AS b(s, t, v) ON CONFLICT DO NOTHING RETURNING sensor_id, ts, value), "
    + ", ".join(_merge_cte(table) for table, _ in ROLLUPS)
    # The new rows come back only when some were duplicates: usually all are new.
    + f" SELECT count(*), CASE WHEN count(*) < $4 THEN array_agg(sensor_id) END, "
    f"CASE WHEN count(*) < $4 THEN array_agg({US_OF.format('ts')}) END, "
    "CASE WHEN count(*) < $4 THEN array_agg(value) END FROM inserted"
)


def month_start(epoch_us: int) -> datetime:
    moment = datetime.fromtimestamp(epoch_us // 1_000_000, UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


def partition_name(start: datetime) -> str:
    return f"readings_p{start:%Y%m}"


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection  # type: ignore[return-value]


class PostgresReadingStore(ReadingStore):
    dialect = "postgresql"

    def __init__(self) -> None:
        self._known_partitions: set[str] = set()

    async def start(self, db: Database) -> None:
        """Create this month's and next month's partitions before any reading needs them."""
        now_us = int(time.time() * 1_000_000)
        next_us = int(next_month(month_start(now_us)).timestamp() * 1_000_000)
        async with db.read() as session:
            await self.ensure_partitions(session, np.array([now_us, next_us], dtype=np.int64))

    async def ensure_partitions(self, session: AsyncSession, ts_us: np.ndarray) -> None:
        """Create the monthly partitions a batch needs, ahead of the insert.

        The DDL runs on a connection of its own and commits at once, so it never holds the
        parent's lock for the length of an ingest transaction; racing creators are harmless.
        """
        months = {month_start(int(us)) for us in np.unique(ts_us - ts_us % (86_400 * 1_000_000))}
        missing = [m for m in months if partition_name(m) not in self._known_partitions]
        if not missing:
            return
        engine = session.bind
        async with engine.connect() as connection:  # type: ignore[union-attr]
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            for start in sorted(missing):
                name = partition_name(start)
                bounds = f"FROM ('{start.isoformat()}') TO ('{next_month(start).isoformat()}')"
                with suppress(asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
                    await driver.execute(
                        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings "
                        f"FOR VALUES {bounds}"
                    )
                self._known_partitions.add(name)
            await connection.commit()

    async def write(self, session: AsyncSession, batch: Batch) -> Batch:
        if not len(batch):
            return batch
        await self.ensure_partitions(session, batch.ts_us)
        driver = await _driver(session)
        count, ids, ts, values = await driver.fetchrow(
            WRITE,
            batch.sensor_ids.tolist(),
            batch.ts_us.tolist(),
            batch.values.tolist(),
            len(batch),
        )
        if count == len(batch):
            return batch
        if not count:
            return Batch.build(*(np.zeros(0, dtype) for dtype in (np.int64, np.int64, float)))
        return Batch.build(
            np.asarray(ids, np.int64), np.asarray(ts, np.int64), np.asarray(values, float)
        )

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
        driver = await _driver(session)
        order = "DESC" if newest_first else "ASC"
        rows = await driver.fetch(
            f"SELECT {US_OF.format('ts')}, value FROM readings WHERE sensor_id = $1 "
            f"AND ts >= {TS_OF.format('$2')} AND ts < {TS_OF.format('$3')} "
            f"ORDER BY ts {order} LIMIT $4",
            sensor_id,
            start_us,
            end_us,
            limit,
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    async def _aggregate_piece(
        self, session: AsyncSession, sensor_id: int, piece: Piece, step_us: int
    ) -> list[AggregateRow]:
        if piece.table is None:
            source, column = "readings", "ts"
            agg = "min(value), max(value), sum(value), count(*)"
        else:
            source, column = piece.table, "bucket"
            agg = "min(min_value), max(max_value), sum(sum_value), sum(count)"
        us = US_OF.format(column)
        driver = await _driver(session)
        rows = await driver.fetch(
            f"SELECT {us} - {us} % $4 AS b, {agg} FROM {source} WHERE sensor_id = $1 "
            f"AND {column} >= {TS_OF.format('$2')} AND {column} < {TS_OF.format('$3')} "
            "GROUP BY b ORDER BY b",
            sensor_id,
            piece.start_us,
            piece.end_us,
            step_us,
        )
        return [(int(r[0]), float(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows]

    async def latest(
        self, session: AsyncSession, sensor_ids: list[int]
    ) -> list[tuple[int, int, float]]:
        if not sensor_ids:
            return []
        driver = await _driver(session)
        rows = await driver.fetch(
            f"SELECT s.id, {US_OF.format('r.ts')}, r.value FROM unnest($1::int[]) AS s(id) "
            "CROSS JOIN LATERAL (SELECT ts, value FROM readings WHERE sensor_id = s.id "
            "ORDER BY ts DESC LIMIT 1) AS r",
            sensor_ids,
        )
        return [(int(r[0]), int(r[1]), float(r[2])) for r in rows]

    async def bounds(self, session: AsyncSession, sensor_id: int) -> tuple[int, int] | None:
        driver = await _driver(session)
        row = await driver.fetchrow(
            f"SELECT {US_OF.format('min(ts)')}, {US_OF.format('max(ts)')} FROM readings "
            "WHERE sensor_id = $1",
            sensor_id,
        )
        return None if row is None or row[0] is None else (int(row[0]), int(row[1]))

    async def delete_sensor(self, session: AsyncSession, sensor_id: int) -> None:
        driver = await _driver(session)
        for table in ("readings", *(table for table, _ in ROLLUPS)):
            await driver.execute(f"DELETE FROM {table} WHERE sensor_id = $1", sensor_id)
