"""The sensor page's chart at 30 days: from navigation start to the chart drawn, in Chromium.

For each backend: a fresh database, one sensor created through the API of the real
``shopfloor serve`` process, and 30 days of 1 Hz readings ending now (2,592,000 rows) written
through the product's own store (``store_for(dialect).write`` in ``Database.write()``, so the
1m/1h/1d rollups fill as in production), with the detector's score minutes (43,200) and a few
alarms beside them; on PostgreSQL, then the ``VACUUM ANALYZE`` autovacuum would run on its own.
The system's Chromium signs in and opens ``/sensors/{id}?range=30d``; the
page's script sets ``performance.mark("sensor-chart-drawn")`` after uPlot's first draw, and
its ``startTime`` (milliseconds from navigation start) is the figure, over several page loads.

Baselines measured in the same run: the same page at 15 minutes (900 raw readings, no
rollups), and the 30-day chart data fetched alone from inside the page (``fetch`` of
``/sensors/{id}/chart?range=30d``, the part of the page load that touches the database).

Run from the project root: ``python -m benchmarks.sensor_chart [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from playwright.sync_api import Page, sync_playwright

from benchmarks.common import (
    BACKENDS,
    BENCH_PASSWORD,
    BENCH_USER,
    banner,
    create_sensors,
    database,
    markdown_table,
    serve,
)
from benchmarks.rollup_query import vacuum_analyze
from shopfloor.alarms.models import Alarm
from shopfloor.detection.score_store import MINUTE_US, upsert_maxima
from shopfloor.readings.store import store_for
from shopfloor.readings.store.base import Batch
from shopfloor.storage import Database as ProductDatabase

US = 1_000_000
DAY_S = 86_400
TARGET_MS = 1_000.0
DRAWN = "sensor-chart-drawn"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ALARM_SEVERITIES = ("warning", "critical", "info", "warning", "critical", "warning")


async def load(url: str, sensor_id: int, days: int, batch: int, end_s: int) -> float:
    """``days`` of 1 Hz readings ending at ``end_s`` through the store, their score minutes
    and a few alarms; returns readings/s."""
    db = ProductDatabase(url)
    store = store_for(db.dialect)
    total = days * DAY_S
    start_s = end_s - total
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    try:
        for first in range(0, total, batch):
            seconds = np.arange(first, min(first + batch, total), dtype=np.int64)
            values = 50 + 10 * np.sin(seconds / 3_600) + rng.normal(0, 1, len(seconds))
            ids = np.full(len(seconds), sensor_id, dtype=np.int64)
            async with db.write() as session:
                await store.write(session, Batch.build(ids, (start_s + seconds) * US, values))
        rate = total / (time.perf_counter() - started)
        minutes = np.arange(start_s * US - start_s * US % MINUTE_US, end_s * US, MINUTE_US)
        scores = np.clip(rng.beta(1.2, 8, len(minutes)), 0, 1)
        rows = [
            {"sensor_id": sensor_id, "bucket_us": int(m), "max_score": float(s)}
            for m, s in zip(minutes, scores, strict=True)
        ]
        async with db.write() as session:
            await upsert_maxima(session, rows)
            session.add_all(alarms(sensor_id, start_s, days))
    finally:
        await db.dispose()
    return rate


def alarms(sensor_id: int, start_s: int, days: int) -> list[Alarm]:
    out = []
    for index, severity in enumerate(ALARM_SEVERITIES):
        opened_s = start_s + (index + 1) * days * DAY_S // (len(ALARM_SEVERITIES) + 1)
        opened = datetime.fromtimestamp(opened_s, UTC)
        last_seen = datetime.fromtimestamp(opened_s + 1_800, UTC)
        out.append(
            Alarm(
                sensor_id=sensor_id,
                rule="limits",
                kind="threshold",
                severity=severity,
                state="closed",  # at most one alarm not closed per (sensor, rule)
                message=f"reading {index + 1} outside its limits",
                count=3,
                opened_at=opened,
                last_seen_at=last_seen,
                last_reading_us=(opened_s + 1_800) * US,
                resolved_at=last_seen,
                resolution="condition",
                closed_at=last_seen,
            )
        )
    return out


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(BENCH_USER)
    page.get_by_label("Password").fill(BENCH_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def drawn_ms(page: Page, path: str) -> tuple[float, int]:
    """Navigation start to the chart's first draw (ms), and how many points it drew."""
    page.goto(path)
    page.wait_for_selector('#sensor-chart[data-drawn="1"]', state="attached")
    found = page.evaluate(
        f"[performance.getEntriesByName('{DRAWN}')[0].startTime, window.sensorChart.points()]"
    )
    return float(found[0]), int(found[1])


def fetch_ms(page: Page, path: str) -> tuple[float, int]:
    """The chart data alone, fetched from inside the signed-in page: ms and bytes."""
    found = page.evaluate(
        """async (path) => {
            const started = performance.now();
            const response = await fetch(path, {headers: {Accept: "application/json"}});
            const body = await response.arrayBuffer();
            if (!response.ok) throw new Error("status " + response.status);
            return [performance.now() - started, body.byteLength];
        }""",
        path,
    )
    return float(found[0]), int(found[1])


@dataclass
class Result:
    backend: str
    what: str
    points: int
    timings_ms: list[float]
    note: str = ""


def measure(base_url: str, backend: str, sensor_id: int, runs: int) -> list[Result]:
    page_30d, page_15m = f"/sensors/{sensor_id}?range=30d", f"/sensors/{sensor_id}?range=15m"
    data_30d = f"/sensors/{sensor_id}/chart?range=30d"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                base_url=base_url, viewport={"width": 1280, "height": 860}
            )
            page = context.new_page()
            sign_in(page)
            cold_ms, points = drawn_ms(page, page_30d)  # the first load: nothing cached
            warm = [drawn_ms(page, page_30d) for _ in range(runs)]
            short = [drawn_ms(page, page_15m) for _ in range(runs)]
            fetched = [fetch_ms(page, data_30d) for _ in range(runs)]
        finally:
            browser.close()
    return [
        Result(
            backend,
            "30 d page, chart drawn",
            points,
            [cold_ms] + [w[0] for w in warm],
            "first load included",
        ),
        Result(backend, "15 min page, chart drawn (baseline)", short[0][1], [s[0] for s in short]),
        Result(
            backend,
            "30 d chart data fetched alone (baseline)",
            points,
            [f[0] for f in fetched],
            f"{fetched[0][1] / 1024:.0f} KiB of JSON",
        ),
    ]


def bench_backend(backend: str, args: argparse.Namespace) -> list[Result]:
    with database(backend, "bench_sensor_chart") as db, serve(db) as server:
        client = server.client()
        sensor_id = next(
            iter(create_sensors(client, 1, fields={"low_limit": 30, "high_limit": 70}).values())
        )
        client.close()
        end_s = int(time.time())
        rate = asyncio.run(load(db.sqlalchemy_url, sensor_id, args.days, args.batch, end_s))
        rows = args.days * DAY_S
        print(f"  {backend:10} loaded {rows:,} readings at {rate:,.0f} rows/s", flush=True)
        if backend == "postgresql":
            asyncio.run(vacuum_analyze(db.asyncpg_dsn))  # what autovacuum would do after a load
        results = measure(f"http://127.0.0.1:{server.port}", backend, sensor_id, args.runs)
        for result in results:
            p50, worst = statistics.median(result.timings_ms), max(result.timings_ms)
            print(
                f"  {backend:10} {result.what:42} p50 {p50:7.1f} ms   max {worst:7.1f} ms",
                flush=True,
            )
        return results


def table(results: list[Result]) -> str:
    rows = [
        [
            r.backend,
            r.what,
            f"{r.points:,}",
            str(len(r.timings_ms)),
            f"{statistics.median(r.timings_ms):.0f}",
            f"{max(r.timings_ms):.0f}",
            r.note,
        ]
        for r in results
    ]
    headers = ["backend", "measured", "points drawn", "runs", "p50 ms", "max ms", "note"]
    return markdown_table(headers, rows)


def verdicts(results: list[Result]) -> list[str]:
    out = []
    for r in results:
        if r.what.startswith("30 d page"):
            p50, worst = statistics.median(r.timings_ms), max(r.timings_ms)
            met = "met" if worst <= TARGET_MS else "NOT met"
            out.append(
                f"{r.backend}: 30 days at 1 Hz drawn in p50 {p50:.0f} ms, max {worst:.0f} ms "
                f"— target ≤ {TARGET_MS:.0f} ms {met}"
            )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sensor_chart", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 days, 3 runs")
    parser.add_argument("--days", type=int, help="of 1 Hz readings (30)")
    parser.add_argument("--runs", type=int, help="page loads per measurement (10)")
    parser.add_argument("--batch", type=int, default=50_000, help="rows per load transaction")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args(argv)
    args.days = args.days or (3 if args.quick else 30)
    args.runs = args.runs or (3 if args.quick else 10)
    backends = [b for b in args.backends.split(",") if b]
    banner("Sensor page: 30 days drawn")
    print(
        f"one sensor, {args.days} days at 1 Hz ({args.days * DAY_S:,} readings) ending now; "
        f"Chromium, {args.runs} page loads per measurement (the 30 d page: one more, the first)\n",
        flush=True,
    )
    results: list[Result] = []
    for backend in backends:
        results += bench_backend(backend, args)
    print(f"\n{table(results)}\n")
    print("\n".join(verdicts(results)))


if __name__ == "__main__":
    main()
