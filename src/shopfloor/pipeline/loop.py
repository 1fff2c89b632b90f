"""One stage's consume loop: collect a batch by size and time, handle it, settle every delivery.

A batch that fails as a whole is split: each delivery is handled alone, and only those that
fail again are failed on the bus (retried with backoff, then dead-lettered with the error),
so one poison message does not hold back the rest.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from shopfloor.bus.base import Bus
from shopfloor.bus.message import Delivery
from shopfloor.pipeline import metrics
from shopfloor.pipeline.stage import Stage, is_unavailable

log = structlog.get_logger("shopfloor.pipeline")


def describe(exc: BaseException) -> str:
    """The error text kept with a failed message (and shown by ``deadletters list``)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class StageLoop:
    """Consumes ``stage.topic`` as consumer ``consumer`` of group ``stage.name`` until ``stopping``.

    Exceptions that are not the messages' fault (the bus unreachable, ``StageUnavailable``)
    leave the loop: the supervisor restarts it, and the unsettled deliveries come back after the
    bus's visibility timeout.
    """

    def __init__(
        self,
        stage: Stage,
        bus: Bus,
        consumer: str,
        stopping: asyncio.Event,
        poll_s: float = 1.0,
    ) -> None:
        self.stage = stage
        self.bus = bus
        self.consumer = consumer
        self.stopping = stopping
        self.poll_s = poll_s
        self.progressed = False  # a batch was settled since the last (re)start
        self.in_flight = 0
        # Set once the bus has seen this consumer group (its first consume returned): from then
        # on the topic keeps every message for it.
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        self.progressed = False
        while not self.stopping.is_set():
            batch = await self.collect()
            if batch:
                await self.process(batch)
                self.progressed = True

    async def collect(self) -> list[Delivery]:
        """Up to ``batch_size`` deliveries: returns once full, ``batch_wait_s`` after the first
        delivery, or empty after ``poll_s`` without any (so that a stop is noticed)."""
        size = self.stage.batch_size
        first_wait = self.poll_s if self.subscribed.is_set() else 0.0
        batch = await self._consume_unless_stopped(size, first_wait)
        self.subscribed.set()
        if not batch:
            return batch
        self.in_flight = len(batch)
        receipts = {delivery.receipt for delivery in batch}
        clock = asyncio.get_running_loop().time
        deadline = clock() + self.stage.batch_wait_s
        while len(batch) < size and not self.stopping.is_set():
            wait = deadline - clock()
            if wait <= 0:
                break
            for delivery in await self._consume(size - len(batch), wait):
                # A slow batch can get a delivery back from the bus (visibility timeout):
                # once is enough.
                if delivery.receipt not in receipts:
                    receipts.add(delivery.receipt)
                    batch.append(delivery)
            self.in_flight = len(batch)
        return batch

    async def _consume(self, count: int, wait: float) -> list[Delivery]:
        stage = self.stage
        return await self.bus.consume(
            stage.topic, stage.name, self.consumer, count=count, block_s=wait
        )

    async def _consume_unless_stopped(self, count: int, wait: float) -> list[Delivery]:
        """A consume that a stop interrupts, so that stopping an idle stage is immediate.

        A consume cancelled while it waits has handed out nothing on the memory bus; on Redis
        an entry read just as the cancel lands stays pending and is reclaimed after the
        visibility timeout, which is at-least-once still.
        """
        consume = asyncio.ensure_future(self._consume(count, wait))
        stopped = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({consume, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not consume.done():
                consume.cancel()
            await asyncio.wait({consume})  # settles without raising its outcome
        if consume.cancelled():
            return []
        return consume.result()  # deliveries that arrived with the stop are still handled

    async def process(self, batch: list[Delivery]) -> None:
        stage = self.stage
        started = time.perf_counter()
        try:
            await stage.handle([delivery.envelope for delivery in batch])
        except Exception as exc:
            if is_unavailable(exc):
                raise
            if len(batch) > 1:
                log.warning(
                    "batch failed; handling its messages one by one",
                    stage=stage.name,
                    size=len(batch),
                    error=describe(exc),
                )
            await self._isolate(batch, exc)
        else:
            await self.bus.ack(stage.topic, stage.name, [d.receipt for d in batch])
            metrics.count(stage.name, stage.topic, metrics.PROCESSED, len(batch))
        finally:
            self.in_flight = 0
        metrics.BATCH_SECONDS.labels(stage=stage.name).observe(time.perf_counter() - started)
        oldest = min(delivery.envelope.created_at for delivery in batch)
        metrics.LAG.labels(stage=stage.name, topic=stage.topic).set(max(0.0, time.time() - oldest))

    async def _isolate(self, batch: list[Delivery], batch_error: Exception) -> None:
        stage = self.stage
        handled: list[str] = []
        try:
            for delivery in batch:
                # A batch of one has already failed alone; handling it again would only
                # repeat its side effects.
                error = batch_error if len(batch) == 1 else await self._handle_alone(delivery)
                if error is None:
                    handled.append(delivery.receipt)
                else:
                    await self._fail(delivery, error)
        finally:
            if handled:
                await self.bus.ack(stage.topic, stage.name, handled)
                metrics.count(stage.name, stage.topic, metrics.PROCESSED, len(handled))

    async def _handle_alone(self, delivery: Delivery) -> Exception | None:
        try:
            await self.stage.handle([delivery.envelope])
        except Exception as exc:
            if is_unavailable(exc):
                raise
            return exc
        return None

    async def _fail(self, delivery: Delivery, error: Exception) -> None:
        stage, envelope = self.stage, delivery.envelope
        dead = await self.bus.fail(stage.topic, stage.name, delivery, describe(error))
        metrics.count(stage.name, stage.topic, metrics.DEAD if dead else metrics.RETRIED)
        log.warning(
            "message dead-lettered" if dead else "message failed; will be retried",
            stage=stage.name,
            message_id=envelope.id,
            key=envelope.key,
            attempt=envelope.attempt,
            error=describe(error),
        )
