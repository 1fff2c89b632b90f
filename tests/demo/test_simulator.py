"""The demo running as the app's background task: readings arrive live through ingest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import numpy as np

from shopfloor.app import create_app
from shopfloor.config import Settings
from shopfloor.demo.plant import machine_of_sensor, sensor_paths, signal_specs
from shopfloor.demo.signals import PlantSignals
from shopfloor.demo.simulator import run_simulation, stream_live
from shopfloor.readings.columns import Columns
from shopfloor.readings.service import IngestResult
from tests.fixtures.auth import admin_client
from tests.fixtures.lifespan import app_running

BACKFILL_S = 60
DEADLINE_S = 8.0


async def poll_latest(
    client: httpx.AsyncClient, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        items = (await client.get("/readings/latest", params={"under": "acme"})).json()["items"]
        if done(items):
            return items
        assert time.monotonic() < deadline, f"gave up waiting; last saw {len(items)} items"
        await asyncio.sleep(0.05)


async def run_demo_once(settings: Settings, after: str = "") -> list[dict[str, Any]]:
    """Start the app with the demo, wait for a full set of live readings newer than ``after``."""
    app = create_app(settings, background=[partial(run_simulation, backfill_s=BACKFILL_S)])
    async with app_running(app), admin_client(app) as client:
        first = await poll_latest(client, lambda items: len(items) == 31)
        newest = max(item["ts"] for item in first)
        # Live: every sensor moves past what the backfill (or the last run) left.
        live = await poll_latest(
            client, lambda items: min(i["ts"] for i in items) > max(newest, after)
        )
        sensors = (await client.get("/sensors", params={"limit": 1000})).json()["items"]
        assert len(sensors) == 31
        oil = next(s for s in sensors if s["path"].endswith("press-1/oil-temp"))
        history = (await client.get(f"/sensors/{oil['id']}/readings")).json()["items"]
        assert len(history) >= BACKFILL_S
    return live


async def test_the_demo_streams_readings_and_restarts_cleanly(settings):
    settings = settings.model_copy(update={"auto_register": True})
    live = await run_demo_once(settings)
    assert [item["sensor"] for item in live] == sorted(sensor_paths())
    assert all(isinstance(item["value"], float) for item in live)
    # Same database again: seeding finds the plant, the backfill overlap is ignored.
    again = await run_demo_once(settings, after=max(item["ts"] for item in live))
    assert len(again) == 31


class FlakyIngestor:
    """Fails its first batch, then records what it is given (the loop's error path)."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []
        self.failed = False

    async def ingest(self, columns: Columns) -> IngestResult:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database went away")
        self.batches.append(np.unique(np.asarray(columns.ts_raw)))
        return IngestResult(len(columns), 0)


async def test_the_live_loop_survives_errors_catches_up_and_stops_on_cancel():
    signals = PlantSignals(signal_specs(), machine_of_sensor(), seed=1)
    ingestor = FlakyIngestor()
    start = int(time.time())  # the first tick is due at once
    task = asyncio.create_task(stream_live(ingestor, sensor_paths(), signals, start))  # type: ignore[arg-type]
    deadline = time.monotonic() + DEADLINE_S
    while not ingestor.batches:
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    sent = np.concatenate(ingestor.batches)
    # The failed second was sent again together with the next one.
    assert sent[0] == start and len(sent) >= 2
    np.testing.assert_array_equal(sent, np.arange(start, start + len(sent)))
