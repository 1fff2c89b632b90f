"""SQLite: a WITHOUT ROWID table clustered on (sensor_id, ts), written through the raw driver.

SQLite has one writer at a time (the caller's transaction is BEGIN IMMEDIATE), so checking
``total_changes`` right after the insert tells exactly whether any row was a duplicate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.readings.store.base import (
    ROLLUPS,
    Batch,
    Piece,
    ReadingStore,
    rollup_delta,
)

INSERT = "INSERT OR IGNORE INTO readings (sensor_id, ts, value) VALUES (?, ?, ?)"

# Adding a delta: used when every row of the batch was new.
MERGE = (
    "INSERT INTO {table} (sensor_id, bucket, min_value, max_value, sum_value, count) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sensor_id, bucket) DO UPDATE SET "
    "min_value = min(min_value, excluded.min_value), "
    "max_value = max(max_value, excluded.max_value), "
    "sum_value = sum_value + excluded.sum_value, count = count + excluded.count"
)

# Recomputing a bucket from the level below: used when some rows were duplicates, since the
# batch alone no longer says which values are new.
RECOMPUTE = (
    "INSERT INTO {table} (sensor_id, bucket, min_value, max_value, sum_value, count) "
    "SELECT sensor_id, ?2, {agg} FROM {source} "
    "WHERE sensor_id = ?1 AND {column} >= ?2 AND {column} < ?2 + ?3 GROUP BY sensor_id "
    "ON CONFLICT (sensor_id, bucket) DO UPDATE SET min_value = excluded.min_value, "
    "max_value = excluded.max_value, sum_value = excluded.sum_value, count = excluded.count"
)
RAW_AGG = "min(value), max(value), sum(value), count(*)"
ROLLUP_AGG = "min(min_value), max(max_value), sum(sum_value), sum(count)"


async def _driver(session: AsyncSession) -> Any:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


class SqliteReadingStore(ReadingStore):
    dialect = "sqlite"

    async def write(self, session: AsyncSession, batch: Batch) -> int:
        if not len(batch):
            return 0
        driver = await _driver(session)
        before = driver.total_changes
        rows = zip(
            batch.sensor_ids.tolist(), batch.ts_us.tolist(), batch.values.tolist(), strict=True
        )
        await driver.executemany(INSERT, list(rows))
        inserted = driver.total_changes - before
        if inserted == len(batch):
            for table, width in ROLLUPS:
                await driver.executemany(
                    MERGE.format(table=table), rollup_delta(batch, width).rows()
                )
        elif inserted:
            await self._recompute_rollups(driver, batch)
        return inserted

    async def _recompute_rollups(self, driver: Any, batch: Batch) -> None:
        # Finest first: each level is rebuilt from the one below it.
        source, column = "readings", "ts"
        for table, width in reversed(ROLLUPS):
            delta = rollup_delta(batch, width)
            params = [
                (sid, bucket, width)
                for sid, bucket in zip(
                    delta.sensor_ids.tolist(), delta.buckets_us.tolist(), strict=True
                )
            ]
            agg = RAW_AGG if source == "readings" else ROLLUP_AGG
            sql = RECOMPUTE.format(table=table, agg=agg, source=source, column=column)
            await driver.executemany(sql, params)
            source, column = table, "bucket"

    async def range(
        self, session: AsyncSession, sensor_id: int, start_us: int, end_us: int, limit: int
    ) -> list[tuple[int, float]]:
        result = await session.execute(
            text(
                "SELECT ts, value FROM readings WHERE sensor_id = :sid AND ts >= :start "
                "AND ts < :end ORDER BY ts LIMIT :limit"
            ),
            {"sid": sensor_id, "start": start_us, "end": end_us, "limit": limit},
        )
        return [(int(ts), float(value)) for ts, value in result.all()]

    async def _aggregate_piece(
        self, session: AsyncSession, sensor_id: int, piece: Piece, step_us: int
    ) -> list[tuple[int, float, float, float, int]]:
        if piece.table is None:
            source, column, agg = "readings", "ts", RAW_AGG
        else:
            source, column, agg = piece.table, "bucket", ROLLUP_AGG
        result = await session.execute(
            text(
                f"SELECT {column} - {column} % :step AS b, {agg} FROM {source} "
                f"WHERE sensor_id = :sid AND {column} >= :start AND {column} < :end "
                "GROUP BY b ORDER BY b"
            ),
            {"sid": sensor_id, "start": piece.start_us, "end": piece.end_us, "step": step_us},
        )
        return [tuple(row) for row in result.all()]  # type: ignore[misc]

    async def latest(
        self, session: AsyncSession, sensor_ids: list[int]
    ) -> list[tuple[int, int, float]]:
        if not sensor_ids:
            return []
        out: list[tuple[int, int, float]] = []
        # One indexed seek per sensor; chunked to stay under the bound-parameter limit.
        for start in range(0, len(sensor_ids), 500):
            chunk = sensor_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            driver = await _driver(session)
            cursor = await driver.execute(
                "SELECT r.sensor_id, r.ts, r.value FROM readings r WHERE r.sensor_id IN "
                f"({marks}) AND r.ts = (SELECT max(ts) FROM readings m "
                "WHERE m.sensor_id = r.sensor_id)",
                chunk,
            )
            out.extend((int(s), int(t), float(v)) for s, t, v in await cursor.fetchall())
            await cursor.close()
        return out

    async def bounds(self, session: AsyncSession, sensor_id: int) -> tuple[int, int] | None:
        row = (
            await session.execute(
                text("SELECT min(ts), max(ts) FROM readings WHERE sensor_id = :sid"),
                {"sid": sensor_id},
            )
        ).one()
        return None if row[0] is None else (int(row[0]), int(row[1]))

    async def delete_sensor(self, session: AsyncSession, sensor_id: int) -> None:
        for table in ("readings", *(table for table, _ in ROLLUPS)):
            await session.execute(
                text(f"DELETE FROM {table} WHERE sensor_id = :sid"), {"sid": sensor_id}
            )
