"""Runs stages against a bus: one supervised consume loop per stage, a graceful stop.

The runner does not own the bus or the database: whoever builds them starts them before
``start`` and closes them after ``stop``.

Supervision: a loop that crashes (the bus or the database unreachable, ``StageUnavailable``,
a failing ``start``) is logged and restarted after an exponential backoff with jitter, capped,
for as long as the runner runs. Stopping lets each loop settle its in-flight batch (until a
deadline), then calls every started stage's ``stop`` so that it checkpoints its state.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog

from shopfloor.bus.base import Bus, RetryPolicy
from shopfloor.bus.outbox import OutboxRelay
from shopfloor.pipeline import metrics
from shopfloor.pipeline.loop import StageLoop, describe
from shopfloor.pipeline.stage import Stage, StageContext, is_unavailable
from shopfloor.pipeline.state import StateStore
from shopfloor.storage.database import Database

log = structlog.get_logger("shopfloor.pipeline")

# Only base_delay_s, max_delay_s and jitter apply: a crashed loop is restarted forever.
RESTART_BACKOFF = RetryPolicy(base_delay_s=0.5, max_delay_s=30.0, jitter=0.5)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class _Worker:
    stage: Stage
    loop: StageLoop
    context: StageContext
    # What start() waits for: the loop's ``subscribed``, which a crash sets too so that a
    # stage that keeps failing does not hold the others up.
    ready: asyncio.Event
    started: bool = False
    restarts: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class PipelineRunner:
    """Supervises one consume loop per stage.

    ``consumer_name`` names this process within each stage's consumer group (one per worker
    process, e.g. the host name and pid): the workers running a stage share its messages.
    """

    def __init__(
        self,
        bus: Bus,
        stages: Sequence[Stage],
        consumer_name: str,
        *,
        database: Database,
        state: StateStore | None = None,
        relay: OutboxRelay | None = None,
        restart_backoff: RetryPolicy = RESTART_BACKOFF,
        poll_s: float = 1.0,
        lag_interval_s: float = 5.0,
        drain_timeout_s: float = 10.0,
        start_timeout_s: float = 30.0,
    ) -> None:
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique (they are consumer groups): {names}")
        for stage in stages:
            # A delivery held longer than the visibility timeout is handed out again while its
            # batch is still being collected.
            if stage.batch_wait_s * 2 > bus.visibility_timeout_s:
                raise ValueError(
                    f"stage {stage.name!r}: batch_wait_s ({stage.batch_wait_s}) must be under "
                    f"half the bus visibility timeout ({bus.visibility_timeout_s})"
                )
        self.bus = bus
        self.consumer_name = consumer_name
        self.database = database
        self.state = state or StateStore(database)
        self.relay = relay
        self.restart_backoff = restart_backoff
        self.lag_interval_s = lag_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.start_timeout_s = start_timeout_s
        self._stopping = asyncio.Event()
        self._workers = [self._worker(stage, poll_s) for stage in stages]
        self._lag_task: asyncio.Task[None] | None = None

    def _worker(self, stage: Stage, poll_s: float) -> _Worker:
        loop = StageLoop(stage, self.bus, self.consumer_name, self._stopping, poll_s)
        context = StageContext(
            stage=stage.name,
            consumer=self.consumer_name,
            bus=self.bus,
            database=self.database,
            state=self.state,
            relay=self.relay,
        )
        return _Worker(stage=stage, loop=loop, context=context, ready=loop.subscribed)

    @property
    def stages(self) -> list[Stage]:
        return [worker.stage for worker in self._workers]

    @property
    def running(self) -> bool:
        return any(w.task is not None and not w.task.done() for w in self._workers)

    def restarts(self, stage: str) -> int:
        """How often the stage's loop was restarted by this runner."""
        return next(w.restarts for w in self._workers if w.stage.name == stage)

    def is_started(self, stage: str) -> bool:
        """True once the stage's ``start`` has returned."""
        return next(w.started for w in self._workers if w.stage.name == stage)

    def summary(self) -> list[dict[str, Any]]:
        """What a health check or the CLI can show about each stage."""
        return [
            {
                "stage": worker.stage.name,
                "topic": worker.stage.topic,
                "started": worker.started,
                "restarts": worker.restarts,
                "in_flight": worker.loop.in_flight,
            }
            for worker in self._workers
        ]

    async def start(self) -> None:
        """Start every stage's supervised loop; return once each is subscribed or has failed.

        Waiting for the subscription matters: a bus may trim a topic that no consumer group
        reads yet, so whatever publishes after ``start`` returns reaches the stages.
        """
        if self.running:
            return
        self._stopping.clear()
        for worker in self._workers:
            worker.task = asyncio.create_task(
                self._supervise(worker), name=f"stage:{worker.stage.name}"
            )
        self._lag_task = asyncio.create_task(self._report_lag(), name="pipeline-lag")
        waits = [asyncio.ensure_future(w.ready.wait()) for w in self._workers]
        if waits:
            _, late = await asyncio.wait(waits, timeout=self.start_timeout_s)
            for wait in late:
                wait.cancel()
            if late:
                log.warning("pipeline stages still starting", count=len(late))
        log.info("pipeline started", stages=[w.stage.name for w in self._workers])

    async def stop(self, timeout_s: float | None = None) -> None:
        """Stop consuming, settle in-flight batches (cancelled after ``timeout_s``), stop stages."""
        self._stopping.set()
        tasks = [w.task for w in self._workers if w.task is not None]
        if tasks:
            deadline = self.drain_timeout_s if timeout_s is None else timeout_s
            _, late = await asyncio.wait(tasks, timeout=deadline)
            for task in late:
                # Its unsettled deliveries return after the bus's visibility timeout.
                log.warning("stage did not drain in time; cancelling", task=task.get_name())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._lag_task is not None:
            self._lag_task.cancel()
            await asyncio.gather(self._lag_task, return_exceptions=True)
            self._lag_task = None
        for worker in self._workers:
            worker.task = None
            if worker.started:
                await self._stop_stage(worker)
        log.info("pipeline stopped")

    async def run_until_signal(self, signals: Sequence[int] = STOP_SIGNALS) -> int:
        """Run until one of ``signals`` (SIGTERM, SIGINT) arrives, then stop; returns it.

        For ``shopfloor worker``: the handlers are installed on the running loop and the
        previous ones restored afterwards.
        """
        loop = asyncio.get_running_loop()
        received: asyncio.Future[int] = loop.create_future()
        previous = {sig: signal.getsignal(sig) for sig in signals}

        def on_signal(sig: int) -> None:
            if not received.done():
                received.set_result(sig)

        for sig in signals:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await self.start()
            sig = await received
            log.info("signal received; stopping", signal=signal.Signals(sig).name)
            return sig
        finally:
            # Restored before the drain, so that a second signal ends the process the usual way.
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                if handler is not None:
                    signal.signal(sig, handler)
            await self.stop()

    async def __aenter__(self) -> PipelineRunner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _supervise(self, worker: _Worker) -> None:
        failures = 0
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                if not worker.started:
                    await worker.stage.start(worker.context)
                    worker.started = True
                await worker.loop.run()
                return
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # stop() past its deadline, or the event loop shutting down
                # A CancelledError nobody asked for (a stage awaiting a task that was
                # cancelled) would otherwise end the loop for good, silently.
                failures = await self._restart_later(worker, exc, began, failures)
            except Exception as exc:
                if self._stopping.is_set():
                    log.warning("stage failed while stopping", stage=worker.stage.name, error=exc)
                    return
                failures = await self._restart_later(worker, exc, began, failures)

    async def _restart_later(
        self, worker: _Worker, exc: BaseException, began: float, failures: int
    ) -> int:
        """Count and log a crash, wait out the backoff; returns the consecutive failures."""
        stage = worker.stage
        worker.ready.set()
        # A loop that got work done, or ran for a while, starts its backoff afresh.
        healthy = time.monotonic() - began > self.restart_backoff.max_delay_s
        failures = 1 if worker.loop.progressed or healthy else failures + 1
        delay = self.restart_backoff.delay(failures)
        worker.restarts += 1
        metrics.RESTARTS.labels(stage=stage.name).inc()
        log.error(
            "stage crashed; restarting",
            stage=stage.name,
            phase="loop" if worker.started else "start",
            error=describe(exc),
            failures=failures,
            retry_in_s=round(delay, 3),
            # An outage is expected and explained by its message; anything else is a bug.
            exc_info=None if is_unavailable(exc) else exc,
        )
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        return failures

    async def _stop_stage(self, worker: _Worker) -> None:
        try:
            await worker.stage.stop()
        except Exception as exc:  # one stage's failing stop must not keep the others running
            log.error("stage stop failed", stage=worker.stage.name, exc_info=exc)
        worker.started = False

    async def _report_lag(self) -> None:
        while True:
            for worker in self._workers:
                stage = worker.stage
                try:
                    lag = await self.bus.lag_seconds(stage.topic, stage.name)
                except Exception as exc:  # the loops report the outage; this is best effort
                    log.debug("lag unavailable", stage=stage.name, error=describe(exc))
                    continue
                metrics.LAG.labels(stage=stage.name, topic=stage.topic).set(lag)
            await asyncio.sleep(self.lag_interval_s)
