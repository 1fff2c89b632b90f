"""Group commit: batches that arrive while a commit is running share the next transaction.

SQLite has one writer at a time. Without this, concurrent ingest requests take turns through
SQLite's busy handler, which sleeps between attempts; with it, one task writes everything
queued in one transaction and one fsync, and each waiting request hears back after that commit.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self,
        write_group: Callable[[list[Item]], Awaitable[list[Result]]],
        write_one: Callable[[Item], Awaitable[Result]],
        max_group_size: int,
    ) -> None:
        self._write_group = write_group
        self._write_one = write_one
        self._max_group_size = max_group_size
        self._queue: list[tuple[Item, int, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item, size: int) -> Result:
        """Write ``item`` (``size`` readings) and return once it is committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, size, future))
        if self._writer is None or self._writer.done():
            # A task of its own, not the request's: a client that hangs up must not cancel
            # the commit that other requests are waiting for. With an empty context: it writes
            # the batches of many requests, so none of theirs (the actor the audit log
            # records, log fields) may stick to it.
            self._writer = asyncio.create_task(self._drain(), context=contextvars.Context())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            group = self._take_group()
            try:
                results = await self._write_group([item for item, _, _ in group])
            except Exception:
                # One bad batch must not fail the others: write each on its own.
                await self._write_each(group)
                continue
            for (_, _, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _take_group(self) -> list[tuple[Item, int, asyncio.Future[Result]]]:
        taken, total = 0, 0
        for _, size, _ in self._queue:
            if taken and total + size > self._max_group_size:
                break
            taken += 1
            total += size
        group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    async def _write_each(self, group: list[tuple[Item, int, asyncio.Future[Result]]]) -> None:
        for item, _, future in group:
            try:
                result = await self._write_one(item)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
