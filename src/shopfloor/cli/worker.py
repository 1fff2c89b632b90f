"""``shopfloor worker``: the pipeline stages alone, for a bus shared by several processes."""

from __future__ import annotations

import asyncio
import signal

import structlog

from shopfloor.config import Settings
from shopfloor.connectors.wiring import build_runner, fixed_connectors
from shopfloor.observe.logging import configure_logging
from shopfloor.pipeline.wiring import Pipeline
from shopfloor.readings.events import offer_to
from shopfloor.readings.service import build_ingestor
from shopfloor.storage import Database
from shopfloor.storage.migrate import upgrade

log = structlog.get_logger("shopfloor.worker")


def worker() -> None:
    """Run the pipeline stages until SIGTERM or SIGINT, then drain and stop."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.run_connectors:
        fixed_connectors(settings)  # a bad connectors file is refused before anything starts
    if settings.is_embedded_database:
        upgrade(settings.resolved_database_url)
    asyncio.run(_run(settings))


async def _run(settings: Settings) -> None:
    db = Database(settings.resolved_database_url)
    await db.start()
    pipeline = Pipeline(settings, db, run_stages=True)
    runner = None
    if settings.run_connectors:
        ingestor = build_ingestor(db, settings)
        ingestor.on_commit.append(offer_to(pipeline.relay))
        runner = build_runner(db, ingestor, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await pipeline.start()
        if runner is not None:
            await runner.ingestor.store.start(db)
            await runner.start()
        log.info("worker running", bus=settings.bus_url.split("@")[-1])
        await stop.wait()
        log.info("stopping: draining in-flight batches")
    finally:
        if runner is not None:
            await runner.stop()
        await pipeline.stop()
        await db.dispose()
