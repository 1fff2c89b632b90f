"""SQLite: a WITHOUT ROWID table clustered on (sensor_id, ts), written through the raw driver.

SQLite has one writer at a time (the caller's transaction is BEGIN IMMEDIATE), so checking
``total_changes`` right after the insert tells exactly whether any row was a duplicate.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.readings.store.base import (
    ROLLUPS,
    AggregateRow,
    Batch,
    Piece,
    ReadingStore,
    rollup_delta,
)

INSERT = "INSERT OR IGNORE INTO readings (sensor_id, ts, value) VALUES (?, ?, ?)"

# Adding the new rows' aggregates to a bucket.
MERGE = (
    "INSERT INTO {table} (sensor_id, bucket, min_value, max_value, sum_value, count) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sensor_id, bucket) DO UPDATE SET "
    "min_value = min(min_value, excluded.min_value), "
    "max_value = max(max_value, excluded.max_value), "
    "sum_value = sum_value + excluded.sum_value, count = count + excluded.count"
)

RAW_AGG = "min(value), max(value), sum(value), count(*)"
ROLLUP_AGG = "min(min_value), max(max_value), sum(sum_value), sum(count)"


def _write_sync(connection: sqlite3.Connection, batch: Batch) -> Batch:
    """Insert a batch, bring the rollups up to date and return the rows that were new.

    Runs on the connection's thread. The common case — every row new — costs one insert; when
    some rows were stored before, the insert is undone and redone with exactly the new rows,
    so that the rollups and the pipeline see each reading once.
    """
    connection.execute("SAVEPOINT ingest_batch")
    before = connection.total_changes
    connection.executemany(INSERT, _rows(batch))
    if connection.total_changes - before < len(batch):
        connection.execute("ROLLBACK TO ingest_batch")
        batch = _without_stored(connection, batch)
        connection.executemany(INSERT, _rows(batch))
    if len(batch):
        for table, width in ROLLUPS:
            connection.executemany(MERGE.format(table=table), rollup_delta(batch, width).rows())
    connection.execute("RELEASE ingest_batch")
    return batch


def _rows(batch: Batch) -> Any:
    return zip(batch.sensor_ids.tolist(), batch.ts_us.tolist(), batch.values.tolist(), strict=True)


def _without_stored(connection: sqlite3.Connection, batch: Batch) -> Batch:
    keep = np.ones(len(batch), dtype=bool)
    starts = np.flatnonzero(np.concatenate(([True], batch.sensor_ids[1:] != batch.sensor_ids[:-1])))
    for start, end in zip(starts.tolist(), [*starts[1:].tolist(), len(batch)], strict=True):
        sensor_id = int(batch.sensor_ids[start])
        stored = connection.execute(
            "SELECT ts FROM readings WHERE sensor_id = ? AND ts >= ? AND ts <= ?",
            (sensor_id, int(batch.ts_us[start]), int(batch.ts_us[end - 1])),
        ).fetchall()
        if stored:
            keep[start:end] = ~np.isin(batch.ts_us[start:end], [row[0] for row in stored])
    return Batch(batch.sensor_ids[keep], batch.ts_us[keep], batch.values[keep])


async def _driver(session: AsyncSession) -> Any:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def _fetch(session: AsyncSession, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows as plain tuples: no per-row objects on paths that return thousands of rows."""
    driver = await _driver(session)
    async with driver.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


class SqliteReadingStore(ReadingStore):
    dialect = "sqlite"

    async def write(self, session: AsyncSession, batch: Batch) -> Batch:
        if not len(batch):
            return batch
        driver = await _driver(session)
        # One hop to aiosqlite's connection thread for the whole write instead of one per
        # statement: the hops, not SQLite, were a third of the time of a batch.
        return await driver._execute(_write_sync, driver._conn, batch)

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
        order = "DESC" if newest_first else "ASC"
        return await _fetch(
            session,
            "SELECT ts, value FROM readings WHERE sensor_id = ? AND ts >= ? AND ts < ? "
            f"ORDER BY ts {order} LIMIT ?",
            (sensor_id, start_us, end_us, limit),
        )

    async def _aggregate_piece(
        self, session: AsyncSession, sensor_id: int, piece: Piece, step_us: int
    ) -> list[AggregateRow]:
        if piece.table is None:
            source, column, agg = "readings", "ts", RAW_AGG
        else:
            source, column, agg = piece.table, "bucket", ROLLUP_AGG
        return await _fetch(
            session,
            f"SELECT {column} - {column} % ?4 AS b, {agg} FROM {source} "
            f"WHERE sensor_id = ?1 AND {column} >= ?2 AND {column} < ?3 GROUP BY b ORDER BY b",
            (sensor_id, piece.start_us, piece.end_us, step_us),
        )

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
        # Two scalar subqueries: SQLite turns a lone min() or max() into one index seek, but
        # scans every row for both in one SELECT.
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT min(ts) FROM readings WHERE sensor_id = :sid), "
                    "(SELECT max(ts) FROM readings WHERE sensor_id = :sid)"
                ),
                {"sid": sensor_id},
            )
        ).one()
        return None if row[0] is None else (int(row[0]), int(row[1]))

    async def delete_sensor(self, session: AsyncSession, sensor_id: int) -> None:
        for table in ("readings", *(table for table, _ in ROLLUPS)):
            await session.execute(
                text(f"DELETE FROM {table} WHERE sensor_id = :sid"), {"sid": sensor_id}
            )
