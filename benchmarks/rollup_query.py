"""Aggregate query latency: ``GET /api/v1/sensors/{id}/readings?every=…`` over 30 days at 1 Hz.

For each backend: one sensor, created through the API of the real ``shopfloor serve`` process,
gets 30 days of 1 Hz readings (2,592,000 rows) written through the product's own store
(``store_for(dialect).write`` in ``Database.write()``, so the 1m/1h/1d rollups are filled as in
production). Then each query is timed through HTTP over a keep-alive connection, and — as the
baseline, in the same run — the same aggregate computed from the raw rows with a plain SQL
``GROUP BY`` (no rollups) through the bare driver (no HTTP, no JSON: flattering the baseline).

Run from the project root: ``python -m benchmarks.rollup_query [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import orjson

from benchmarks.common import (
    API,
    BACKENDS,
    Client,
    Database,
    banner,
    create_sensors,
    database,
    markdown_table,
    serve,
)
from benchmarks.meter import Meter
from shopfloor.readings.store import store_for
from shopfloor.readings.store.base import Batch
from shopfloor.storage import Database as ProductDatabase

START_S = 1_704_067_200  # 2024-01-01T00:00:00Z
US = 1_000_000
STEP_US = {"1m": 60 * US, "1h": 3_600 * US, "1d": 86_400 * US}
TARGET_MS = 50.0
SQLITE_GROUP_BY = (
    "SELECT ts - ts % ? AS b, min(value), max(value), sum(value), count(*) FROM readings "
    "WHERE sensor_id = ? AND ts >= ? AND ts < ? GROUP BY b ORDER BY b"
)
PG_GROUP_BY = (
    "SELECT date_bin($1::interval, ts, timestamptz 'epoch'), min(value), max(value), "
    "sum(value), count(*) FROM readings WHERE sensor_id = $2 AND ts >= $3 AND ts < $4 "
    "GROUP BY 1 ORDER BY 1"
)


@dataclass(frozen=True)
class Query:
    label: str
    every: str
    start_s: int | None = None  # None: the whole range, as the API takes it
    end_s: int | None = None

    @property
    def path_query(self) -> str:
        bounds = "" if self.start_s is None else f"&start={self.start_s}&end={self.end_s}"
        return f"every={self.every}{bounds}"

    def bounds_us(self, days: int) -> tuple[int, int]:
        """The range the API aggregates: the sensor's own bounds when none are given."""
        if self.start_s is None or self.end_s is None:
            step = STEP_US[self.every]
            first, last = START_S * US, (START_S + days * 86_400 - 1) * US
            return first - first % step, last + 1
        return self.start_s * US, self.end_s * US


def queries(days: int) -> list[Query]:
    # Start and end on no minute, hour or day: every rollup level and raw rows serve a piece.
    start = START_S + 86_400 + 17 * 60 + 23
    end = START_S + (days - 1) * 86_400 - (42 * 60 + 7)
    return [
        Query("every=1h, whole range", "1h"),
        # The same buckets with the range given: no lookup of the sensor's first and last time.
        Query("every=1h, whole range as start/end", "1h", START_S, START_S + days * 86_400),
        Query("every=1d, whole range", "1d"),
        Query("every=1m, whole range", "1m"),
        Query("every=1h, non-aligned start/end", "1h", start, end),
    ]


async def load(url: str, sensor_id: int, days: int, batch: int) -> float:
    """Write ``days`` of 1 Hz readings through the product's store; returns rows/s."""
    db = ProductDatabase(url)
    store = store_for(db.dialect)
    total = days * 86_400
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    try:
        for first in range(0, total, batch):
            seconds = np.arange(first, min(first + batch, total), dtype=np.int64)
            values = 50 + 10 * np.sin(seconds / 3_600) + rng.normal(0, 1, len(seconds))
            ids = np.full(len(seconds), sensor_id, dtype=np.int64)
            async with db.write() as session:
                await store.write(session, Batch.build(ids, (START_S + seconds) * US, values))
    finally:
        await db.dispose()
    return total / (time.perf_counter() - started)


async def vacuum_analyze(dsn: str) -> None:
    """What autovacuum does on its own after a bulk load; done now so it cannot run mid-timing."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def time_calls(call: Callable[[], object], calls: int, warm: int) -> list[float]:
    for _ in range(warm):
        call()
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def http_call(client: Client, path: str) -> Callable[[], bytes]:
    def call() -> bytes:
        status, body = client.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        return body

    return call


class PlainGroupBy:
    """The baseline: the aggregate from raw rows with one plain SQL GROUP BY, bare driver."""

    def __init__(self, db: Database) -> None:
        self.backend = db.backend
        if db.backend == "sqlite":
            self.sqlite = sqlite3.connect(f"file:{db.sqlite_path}?mode=ro", uri=True)
        else:
            self.loop = asyncio.new_event_loop()
            self.pg = self.loop.run_until_complete(asyncpg.connect(db.asyncpg_dsn))

    def call(self, sensor_id: int, start_us: int, end_us: int, step_us: int) -> Callable[[], list]:
        if self.backend == "sqlite":
            args = (step_us, sensor_id, start_us, end_us)
            return lambda: self.sqlite.execute(SQLITE_GROUP_BY, args).fetchall()
        pg_args = (
            timedelta(microseconds=step_us),
            sensor_id,
            datetime.fromtimestamp(start_us / US, UTC),
            datetime.fromtimestamp(end_us / US, UTC),
        )
        return lambda: self.loop.run_until_complete(self.pg.fetch(PG_GROUP_BY, *pg_args))

    def close(self) -> None:
        if self.backend == "sqlite":
            self.sqlite.close()
        else:
            self.loop.run_until_complete(self.pg.close())
            self.loop.close()


def check_same(api_body: bytes, rows: list) -> int:
    """The API's buckets equal the plain GROUP BY's (count, min, max); returns the count."""
    items = orjson.loads(api_body)["items"]
    api = [(i["count"], i["min"], i["max"]) for i in items]
    raw = [(int(r[4]), float(r[1]), float(r[2])) for r in rows]
    if api != raw:
        raise AssertionError(f"the API's buckets differ from GROUP BY: {api[:3]} vs {raw[:3]}")
    return len(items)


@dataclass
class Timing:
    backend: str
    query: Query
    buckets: int
    http_ms: list[float]
    baseline_ms: list[float]
    other_load: float  # CPU share of all cores used by other processes during the HTTP calls


def bench_backend(backend: str, args: argparse.Namespace) -> list[Timing]:
    with database(backend, "bench_rollup") as db, serve(db) as server:
        client = server.client()
        sensor_id = next(iter(create_sensors(client, 1).values()))
        rate = asyncio.run(load(db.sqlalchemy_url, sensor_id, args.days, args.batch))
        rows = args.days * 86_400
        print(f"  {backend:10} loaded {rows:,} rows at {rate:,.0f} rows/s", flush=True)
        if backend == "postgresql":
            asyncio.run(vacuum_analyze(db.asyncpg_dsn))
        timings = []
        group_by = PlainGroupBy(db)
        for query in queries(args.days):
            http = http_call(client, f"{API}/sensors/{sensor_id}/readings?{query.path_query}")
            plain = group_by.call(sensor_id, *query.bounds_us(args.days), STEP_US[query.every])
            buckets = check_same(http(), plain())
            with Meter(server.pid, db.server_pid) as meter:
                http_ms = time_calls(http, args.calls, warm=2)
            timing = Timing(
                backend,
                query,
                buckets,
                http_ms,
                time_calls(plain, args.baseline_calls, warm=1),
                meter.usage.other,
            )
            timings.append(timing)
            print(
                f"  {backend:10} {query.label:34} http {statistics.median(timing.http_ms):8.1f} ms"
                f"   GROUP BY {statistics.median(timing.baseline_ms):8.1f} ms",
                flush=True,
            )
        group_by.close()
        client.close()
        return timings


def table(timings: list[Timing]) -> str:
    rows = []
    for t in timings:
        http, base = np.asarray(t.http_ms), np.asarray(t.baseline_ms)
        rows.append(
            [
                t.backend,
                t.query.label,
                f"{t.buckets:,}",
                f"{np.median(http):.1f}",
                f"{np.percentile(http, 95):.1f}",
                f"{np.median(base):.1f}",
                f"{np.median(base) / np.median(http):.0f}x",
                f"{t.other_load:.0%}",
            ]
        )
    headers = [
        "backend",
        "query",
        "buckets",
        "HTTP median ms",
        "HTTP p95 ms",
        "plain GROUP BY median ms",
        "speed-up",
        "other load",
    ]
    return markdown_table(headers, rows)


def verdicts(timings: list[Timing]) -> list[str]:
    out = []
    for t in timings:
        if t.query.label == "every=1h, whole range":
            median, p95 = np.median(t.http_ms), np.percentile(t.http_ms, 95)
            met = "met" if median <= TARGET_MS else "NOT met"
            out.append(
                f"{t.backend}: every=1h over {t.buckets // 24} days: median {median:.1f} ms, "
                f"p95 {p95:.1f} ms — target ≤ {TARGET_MS:.0f} ms {met}"
            )
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="7 days, 5 calls, 2 baseline calls")
    parser.add_argument("--days", type=int, help="of 1 Hz readings (30)")
    parser.add_argument("--calls", type=int, help="timed HTTP calls per query (20)")
    parser.add_argument("--baseline-calls", type=int, help="timed GROUP BY calls (3)")
    parser.add_argument("--batch", type=int, default=50_000, help="rows per load transaction")
    parser.add_argument("--backends", default=",".join(BACKENDS))


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    defaults = {"days": 7, "calls": 5, "baseline_calls": 2} if args.quick else {}
    defaults = {"days": 30, "calls": 20, "baseline_calls": 3, **defaults}
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.backends = [b for b in args.backends.split(",") if b]
    return args


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rollup_query", description=__doc__)
    add_arguments(parser)
    args = finish_args(parser.parse_args(argv))
    banner("Aggregate query latency")
    print(
        f"one sensor, {args.days} days at 1 Hz ({args.days * 86_400:,} rows), loaded through the "
        f"store in batches of {args.batch:,}; {args.calls} timed HTTP calls per query after 2 "
        f"warm-up calls, {args.baseline_calls} timed plain GROUP BY calls after 1\n",
        flush=True,
    )
    timings: list[Timing] = []
    for backend in args.backends:
        timings += bench_backend(backend, args)
    print(f"\n{table(timings)}\n")
    print("\n".join(verdicts(timings)))


if __name__ == "__main__":
    main()
