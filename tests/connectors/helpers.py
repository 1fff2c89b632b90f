"""For the connector tests: a connector running into the real ingest path, and waiting for a
condition with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shopfloor.config import Settings
from shopfloor.connectors.batcher import Batcher
from shopfloor.readings.service import Ingestor, build_ingestor
from shopfloor.storage import Database

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], what: str, within_s: float = 10.0) -> T:
    """Poll ``check`` until it returns something true; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + within_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what}; got {result!r}")
        await asyncio.sleep(0.02)


@dataclass
class Running:
    db: Database
    ingestor: Ingestor
    batcher: Batcher
    task: asyncio.Task[None]  # the connector's ``run``


@contextlib.asynccontextmanager
async def connector_running(
    database_url: str, tmp_path: Path, connector: Any, *, auto_register: bool = True
) -> AsyncIterator[Running]:
    """``connector`` receiving into the real ingest path until the block ends; what it
    received by then is stored before the database closes."""
    db = Database(database_url)
    await db.start()
    config = Settings(database_url=database_url, data_dir=tmp_path, auto_register=auto_register)
    ingestor = build_ingestor(db, config)
    await ingestor.store.start(db)
    batcher = Batcher(ingestor, db, connector.state, max_wait_s=0.01)
    writer = asyncio.create_task(batcher.run())
    task = asyncio.create_task(connector.run(batcher))
    try:
        yield Running(db, ingestor, batcher, task)
    finally:
        task.cancel()
        writer.cancel()
        await asyncio.gather(task, writer, return_exceptions=True)
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(batcher.drain(), 5)
        await db.dispose()
