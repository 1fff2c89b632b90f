from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shopfloor.bus.base import RetryPolicy
from shopfloor.bus.memory import MemoryBus
from shopfloor.storage import Database

# Fast retries so that a poison message reaches the dead letters within a test.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=0.2, jitter=0.5)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.start()
    yield db
    await db.dispose()


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    memory = MemoryBus(retry=FAST_RETRY, visibility_timeout_s=2.0)
    await memory.start()
    yield memory
    await memory.close()


@pytest.fixture
async def hasty_bus() -> AsyncIterator[MemoryBus]:
    """Hands unsettled deliveries out again after 0.3 s, for tests that wait for that."""
    memory = MemoryBus(retry=FAST_RETRY, visibility_timeout_s=0.3)
    await memory.start()
    yield memory
    await memory.close()
