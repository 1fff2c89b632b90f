"""``shopfloor worker``: the pipeline stages alone, for a bus shared by several processes."""

from __future__ import annotations

import asyncio
import signal

import structlog

from shopfloor.config import Settings
from shopfloor.observe.logging import configure_logging
from shopfloor.pipeline.wiring import Pipeline
from shopfloor.storage import Database
from shopfloor.storage.migrate import upgrade

log = structlog.get_logger("shopfloor.worker")


def worker() -> None:
    """Run the pipeline stages until SIGTERM or SIGINT, then drain and stop."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.is_embedded_database:
        upgrade(settings.resolved_database_url)
    asyncio.run(_run(settings))


async def _run(settings: Settings) -> None:
    db = Database(settings.resolved_database_url)
    await db.start()
    pipeline = Pipeline(settings, db, run_stages=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await pipeline.start()
        log.info("worker running", bus=settings.bus_url.split("@")[-1])
        await stop.wait()
        log.info("stopping: draining in-flight batches")
    finally:
        await pipeline.stop()
        await db.dispose()
