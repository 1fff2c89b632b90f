"""The demo's background task: seed the plant (and its quality records), backfill history, then
stream 1 Hz readings.

Readings go through ``app.state.ingestor`` — the same validated, durable path as HTTP, MQTT
and file imports — so the demo exercises the product rather than writing around it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import numpy as np
import structlog
from fastapi import FastAPI

from shopfloor.core.clock import rfc3339_from_us
from shopfloor.demo.plant import (
    MACHINES,
    machine_of_sensor,
    seed_plant,
    sensor_paths,
    signal_specs,
)
from shopfloor.demo.quality import seed_quality
from shopfloor.demo.signals import Fault, PlantSignals
from shopfloor.quality import events
from shopfloor.readings.columns import Columns, flatten
from shopfloor.readings.service import Ingestor
from shopfloor.storage import Database

log = structlog.get_logger(__name__)

DEMO_SEED = 20_240_601
BACKFILL_S = 2 * 3600
BACKFILL_BATCH_S = 600
# After a stall (a slow commit, a laptop waking up) resend at most this much; older gaps stay,
# as they would for a real machine that lost its connection.
MAX_CATCH_UP_S = 300
RETRY_S = 5.0
# Wake just after the second turns so the reading stamped T is sent once T has begun.
TICK_SLACK_S = 0.005
# The opening act: a machine that is already wearing when the demo opens fails a few minutes in.
OPENING_RAMP_S = 15 * 60
OPENING_DOWN_S = 4 * 60
OPENING_WINDOW_S = (120, 300)


async def run_simulation(
    app: FastAPI, *, seed: int = DEMO_SEED, backfill_s: int = BACKFILL_S
) -> None:
    """Run the demo plant until cancelled; errors are logged and the plant keeps running."""
    paths = sensor_paths()
    await _seed_until_done(app.state.db)
    await _seed_quality(app)
    signals = PlantSignals(signal_specs(), machine_of_sensor(), seed)
    now = int(time.time())
    opening = schedule_opening_failure(signals, now, seed)
    log.info(
        "demo.started",
        sensors=len(paths),
        backfill_s=backfill_s,
        failing_machine=MACHINES[opening.target].path,
        fails_at=rfc3339_from_us((opening.start_s + opening.ramp_s) * 1_000_000),
    )
    ingestor: Ingestor = app.state.ingestor
    started = time.perf_counter()
    await backfill(ingestor, paths, signals, now - backfill_s, now + 1)
    log.info("demo.backfilled", seconds=backfill_s, took_s=round(time.perf_counter() - started, 2))
    await stream_live(ingestor, paths, signals, now + 1)


def schedule_opening_failure(signals: PlantSignals, now_s: int, seed: int) -> Fault:
    """A machine already degrading at start fails 2 to 5 minutes into the demo."""
    rng = np.random.default_rng([seed, 3, now_s])
    machine = int(rng.choice(signals.wearing_machines))
    fails_at = now_s + int(rng.integers(*OPENING_WINDOW_S))
    return signals.schedule_failure(machine, fails_at, OPENING_RAMP_S, OPENING_DOWN_S)


async def _seed_until_done(db: Database) -> None:
    while True:
        try:
            report = await seed_plant(db)
        except Exception:
            log.exception("demo.seed_failed", retry_in_s=RETRY_S)
            await asyncio.sleep(RETRY_S)
            continue
        log.info("demo.seeded", assets=report.assets_created, sensors=report.sensors_created)
        return


async def _seed_quality(app: FastAPI) -> None:
    """The quality records (once); the plant runs on even when they cannot be written."""
    try:
        report = await seed_quality(app.state.db)
    except Exception:
        log.exception("demo.quality_seed_failed")
        return
    pipeline = getattr(app.state, "pipeline", None)
    events.offer(pipeline.relay if pipeline is not None else None, report.events)
    if report.parts:
        log.info("demo.quality_seeded", lots=report.lots, inspections=report.inspections)


def readings_columns(paths: Sequence[str], ts_s: np.ndarray, values: np.ndarray) -> Columns:
    """The columnar request form, flattened exactly as ``POST /readings`` does it."""
    ts = ts_s.tolist()
    series = [
        {"sensor": path, "ts": ts, "values": row}
        for path, row in zip(paths, values.tolist(), strict=True)
    ]
    return flatten({"series": series})


async def send(
    ingestor: Ingestor, paths: Sequence[str], signals: PlantSignals, start_s: int, end_s: int
) -> None:
    """Ingest every sensor's readings for the seconds ``[start_s, end_s)``."""
    ts = np.arange(start_s, end_s, dtype=np.int64)
    await ingestor.ingest(readings_columns(paths, ts, signals.values(ts)))


async def backfill(
    ingestor: Ingestor, paths: Sequence[str], signals: PlantSignals, start_s: int, end_s: int
) -> None:
    """History for the charts, oldest first; on a restart the overlap is ignored as duplicates."""
    for first in range(start_s, end_s, BACKFILL_BATCH_S):
        last = min(first + BACKFILL_BATCH_S, end_s)
        try:
            await send(ingestor, paths, signals, first, last)
        except Exception:
            log.exception("demo.backfill_failed", start=first, end=last)
        await asyncio.sleep(0)  # let requests in between batches


async def stream_live(
    ingestor: Ingestor, paths: Sequence[str], signals: PlantSignals, start_s: int
) -> None:
    """One reading per sensor per second, scheduled on absolute time so it never drifts."""
    next_tick = pending_from = start_s
    while True:
        await asyncio.sleep(max(0.0, next_tick + TICK_SLACK_S - time.time()))
        now = max(next_tick, int(time.time()))
        first = max(pending_from, now - MAX_CATCH_UP_S + 1)
        try:
            if first <= now:  # the wall clock may have stepped back
                await send(ingestor, paths, signals, first, now + 1)
            pending_from = max(pending_from, now + 1)
        except Exception:
            # Keep what failed pending: the next tick sends it together with its own second.
            log.exception("demo.ingest_failed", start=first, end=now + 1)
        next_tick = now + 1
