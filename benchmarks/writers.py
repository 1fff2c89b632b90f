"""The ways readings get into the table during the ingest benchmark, and the data they carry.

Every writer takes batches prepared before the clock starts, connects on ``__enter__`` (not
timed), and in ``run()`` (timed) commits once per batch:
HTTP (``POST /api/v1/readings`` over keep-alive connections); the product's store alone
(``store_for(dialect).write`` in ``Database.write()``, in this process: the database work of an
ingest, rollups included, without HTTP, parsing or validation); and the bare drivers — stdlib
sqlite3 ``executemany`` (WAL, synchronous=FULL, like the product), asyncpg ``executemany`` and
``copy_records_to_table``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
import orjson

from benchmarks.common import API, Client, Database, Server
from shopfloor.readings.store import store_for
from shopfloor.readings.store.base import Batch
from shopfloor.storage import Database as ProductDatabase

# 2024-01-16T00:00:00Z: measured rows start here, rows of --prefill end here; all of them stay
# inside one month, so on PostgreSQL they share one partition and its index.
BASE_S = 1_705_363_200
US = 1_000_000
SQLITE_INSERT = "INSERT INTO readings (sensor_id, ts, value) VALUES (?, ?, ?)"
PG_INSERT = "INSERT INTO readings (sensor_id, ts, value) VALUES ($1, $2, $3)"
RETRIES = 3
ROLLUP_TABLES = ("readings_1m", "readings_1h", "readings_1d")


@dataclass(frozen=True)
class Chunk:
    """One request's worth: consecutive 1 Hz timestamps for every sensor."""

    seconds: np.ndarray  # epoch seconds, shape (t,)
    values: np.ndarray  # shape (t, sensors)


@dataclass(frozen=True)
class Workload:
    paths: list[str]
    ids: list[int]
    batch: int
    readings: int

    def chunks(self, window: int) -> list[Chunk]:
        """``readings`` readings of window number ``window``, in batches of ``batch``."""
        rng = np.random.default_rng(abs(window))
        per_chunk = self.batch // len(self.paths)
        seconds_per_window = self.readings // len(self.paths)
        start = BASE_S + window * seconds_per_window
        return [
            Chunk(
                np.arange(first, first + per_chunk, dtype=np.int64),
                np.round(rng.normal(50.0, 5.0, (per_chunk, len(self.paths))), 3),
            )
            for first in range(start, start + seconds_per_window, per_chunk)
        ]


def rows_body(paths: list[str], chunk: Chunk) -> bytes:
    """``{"readings": [{sensor, ts, value}]}`` with RFC 3339 times, in time order."""
    stamps = np.datetime_as_string(chunk.seconds.astype("datetime64[s]"), timezone="UTC")
    readings = [
        {"sensor": path, "ts": stamp, "value": value}
        for stamp, row in zip(stamps.tolist(), chunk.values.tolist(), strict=True)
        for path, value in zip(paths, row, strict=True)
    ]
    return orjson.dumps({"readings": readings})


def series_body(paths: list[str], chunk: Chunk) -> bytes:
    """``{"series": [{sensor, ts: [...], values: [...]}]}`` with epoch seconds."""
    seconds = chunk.seconds.tolist()
    series = [
        {"sensor": path, "ts": seconds, "values": column}
        for path, column in zip(paths, chunk.values.T.tolist(), strict=True)
    ]
    return orjson.dumps({"series": series})


def driver_rows(ids: list[int], chunk: Chunk, postgres: bool) -> list[tuple]:
    """(sensor_id, ts, value) tuples as each driver takes them: µs integers or datetimes."""
    stamp: Callable[[int], object] = (
        (lambda s: datetime.fromtimestamp(s, UTC)) if postgres else (lambda s: s * US)
    )
    return [
        (sensor_id, stamp(second), value)
        for second, row in zip(chunk.seconds.tolist(), chunk.values.tolist(), strict=True)
        for sensor_id, value in zip(ids, row, strict=True)
    ]


def store_batch(ids: list[int], chunk: Chunk) -> Batch:
    """The chunk as the ingest hands it to the store: sorted columns of ids, µs and values."""
    sensor_ids = np.tile(np.asarray(ids, dtype=np.int64), len(chunk.seconds))
    ts_us = np.repeat(chunk.seconds * US, len(ids))
    return Batch.build(sensor_ids, ts_us, chunk.values.ravel())


class Writer:
    """``with writer: writer.run()``; ``run`` returns how many requests were retried."""

    def __enter__(self) -> Writer:
        return self

    def run(self) -> int:
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        pass


class HttpWriter(Writer):
    """POSTs every body over ``conns`` keep-alive connections, each from its own thread.

    Like any client of an idempotent ingest, a request that fails with a 5xx is sent again (up
    to ``RETRIES`` times); every body must end in a 202 that accounts for all its readings, and
    the readings accepted must add up to all that were sent.
    """

    def __init__(self, server: Server, bodies: list[bytes], per_body: int, conns: int) -> None:
        self.server, self.bodies, self.per_body, self.conns = server, bodies, per_body, conns
        self.lock = threading.Lock()

    def __enter__(self) -> HttpWriter:
        self.clients = [self.server.client() for _ in range(self.conns)]
        for client in self.clients:
            client.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.close()

    def run(self) -> int:
        self.pending = iter(self.bodies)
        self.failures: list[str] = []
        self.retried: list[int] = []
        self.accepted: list[int] = []
        threads = [threading.Thread(target=self._worker, args=(c,)) for c in self.clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.failures:
            raise RuntimeError(f"ingest failed: {self.failures[0]}")
        expected = self.per_body * len(self.bodies)
        if sum(self.accepted) != expected:
            raise RuntimeError(f"{sum(self.accepted)} readings accepted of {expected}")
        return len(self.retried)

    def _next_body(self) -> bytes | None:
        with self.lock:
            return next(self.pending, None)

    def _worker(self, client: Client) -> None:
        while not self.failures and (body := self._next_body()) is not None:
            self._send(client, body)

    def _send(self, client: Client, body: bytes) -> None:
        for attempt in range(RETRIES + 1):
            status, answer = client.request("POST", f"{API}/readings", body)
            if status < 500:
                break
            self.retried.append(attempt)
        counts = orjson.loads(answer) if status == 202 else {}
        if counts.get("accepted", 0) + counts.get("duplicates", 0) != self.per_body:
            self.failures.append(f"{status}: {answer[:300]!r}")
        self.accepted.append(counts.get("accepted", 0))


def post_all(server: Server, bodies: list[bytes], per_body: int, conns: int = 1) -> int:
    with HttpWriter(server, bodies, per_body, conns) as writer:
        return writer.run()


class SqliteWriter(Writer):
    def __init__(self, path: str, batches: list[list[tuple]]) -> None:
        self.path, self.batches = path, batches

    def __enter__(self) -> SqliteWriter:
        self.connection = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    def run(self) -> int:
        for rows in self.batches:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany(SQLITE_INSERT, rows)
            self.connection.execute("COMMIT")
        return 0


class _LoopWriter(Writer):
    """A writer that drives an async driver on an event loop of its own."""

    def __enter__(self) -> _LoopWriter:
        self.loop = asyncio.new_event_loop()
        self._do(self.open())
        return self

    def __exit__(self, *exc: object) -> None:
        self._do(self.close())
        self.loop.close()

    def run(self) -> int:
        self._do(self.write())
        return 0

    def _do(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.loop.run_until_complete(coroutine)

    async def open(self) -> None: ...

    async def write(self) -> None: ...

    async def close(self) -> None: ...


class AsyncpgWriter(_LoopWriter):
    def __init__(self, dsn: str, batches: list[list[tuple]], copy: bool) -> None:
        self.dsn, self.batches, self.copy = dsn, batches, copy

    async def open(self) -> None:
        self.connection = await asyncpg.connect(self.dsn)

    async def write(self) -> None:
        for rows in self.batches:
            async with self.connection.transaction():
                if self.copy:
                    await self.connection.copy_records_to_table(
                        "readings", records=rows, columns=["sensor_id", "ts", "value"]
                    )
                else:
                    await self.connection.executemany(PG_INSERT, rows)

    async def close(self) -> None:
        await self.connection.close()


class StoreWriter(_LoopWriter):
    """The product's store alone: ``store_for(dialect).write`` inside ``Database.write()``."""

    def __init__(self, url: str, batches: list[Batch]) -> None:
        self.url, self.batches = url, batches

    async def open(self) -> None:
        self.db = ProductDatabase(self.url)
        await self.db.start()  # background WAL checkpoints, as in the product
        self.store = store_for(self.db.dialect)
        await self.db.ping()

    async def write(self) -> None:
        inserted = 0
        for batch in self.batches:
            async with self.db.write() as session:
                inserted += len(await self.store.write(session, batch))
        expected = sum(len(batch) for batch in self.batches)
        if inserted != expected:
            raise RuntimeError(f"store.write inserted {inserted} rows of {expected}")

    async def close(self) -> None:
        await self.db.dispose()


def prefill(db: Database, work: Workload, rows: int) -> None:
    """Write ``rows`` readings (no rollups) just before the measured ones, with the bare driver:
    measurements then insert into a table of that size, as a plant that has run a while."""
    for window in range(-1, -1 - rows // work.readings, -1):
        postgres = db.backend == "postgresql"
        batches = [driver_rows(work.ids, chunk, postgres) for chunk in work.chunks(window)]
        writer = (
            AsyncpgWriter(db.asyncpg_dsn, batches, copy=True)
            if postgres
            else SqliteWriter(str(db.sqlite_path), batches)
        )
        with writer:
            writer.run()


def reset(db: Database, prefilled: bool) -> None:
    """Delete every measured reading and all rollups, and flush the log: each run starts alike.

    Prefilled rows stay. On PostgreSQL they make the delete a DELETE + VACUUM instead of a
    TRUNCATE, so that the index is as clean as it was before the measurement.
    """
    if db.backend == "sqlite":
        connection = sqlite3.connect(db.sqlite_path, isolation_level=None, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM readings WHERE ts >= ?", (BASE_S * US,))
            for table in ROLLUP_TABLES:
                connection.execute(f"DELETE FROM {table}")
            connection.execute("COMMIT")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        return

    async def clear() -> None:
        connection = await asyncpg.connect(db.asyncpg_dsn)
        try:
            if prefilled:
                await connection.execute(f"TRUNCATE {', '.join(ROLLUP_TABLES)}")
                await connection.execute(
                    "DELETE FROM readings WHERE ts >= to_timestamp($1)", BASE_S
                )
                await connection.execute("VACUUM readings")
            else:
                await connection.execute(f"TRUNCATE readings, {', '.join(ROLLUP_TABLES)}")
            await connection.execute("CHECKPOINT")
        finally:
            await connection.close()

    asyncio.run(clear())
