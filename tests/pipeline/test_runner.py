"""The runner on the real in-process bus: batching, settling, poison messages, crashes, stop."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time

import pytest

from shopfloor.bus.base import RetryPolicy
from shopfloor.bus.memory import MemoryBus
from shopfloor.bus.message import Envelope
from shopfloor.pipeline import PipelineRunner, StageUnavailable
from tests.pipeline.helpers import Recorder, envelopes, metric, unique, wait_until

FAST_RESTART = RetryPolicy(base_delay_s=0.05, max_delay_s=0.2, jitter=0.5)


def runner_for(bus, database, *stages, **options) -> PipelineRunner:
    options = {"poll_s": 0.05, "restart_backoff": FAST_RESTART, **options}
    return PipelineRunner(bus, stages, "worker-1", database=database, **options)


def messages(name: str, outcome: str, topic: str = "work") -> float:
    return metric("shopfloor_pipeline_messages_total", stage=name, topic=topic, outcome=outcome)


async def test_a_full_batch_is_handled_without_waiting(database):
    bus = MemoryBus(visibility_timeout_s=120)  # lets a batch window last longer than the test
    stage = Recorder(unique("full"), batch_size=10, batch_wait_s=30)
    await bus.publish(envelopes("work", 20))
    began = time.monotonic()
    async with runner_for(bus, database, stage):
        await wait_until(lambda: stage.total() == 20, what="20 handled")
    await bus.close()
    assert time.monotonic() - began < 5  # far from batch_wait_s: full batches do not wait
    assert [len(batch) for _, batch in stage.calls] == [10, 10]


async def test_a_partial_batch_is_handled_after_batch_wait(bus, database):
    stage = Recorder(unique("partial"), batch_size=100, batch_wait_s=0.5)
    async with runner_for(bus, database, stage):
        published = time.monotonic()
        await bus.publish(envelopes("work", 2))
        await asyncio.sleep(0.1)  # within the batch window: joins the same batch
        await bus.publish(envelopes("work", 1, start=2))
        await wait_until(lambda: stage.total() == 3, what="3 handled")
    handled_at, batch = stage.calls[0]
    assert [e.payload["n"] for e in batch] == [0, 1, 2]
    assert len(stage.calls) == 1
    assert handled_at - published >= 0.45


class LoadsState(Recorder):
    async def start(self, context) -> None:
        await super().start(context)
        self.saved = await context.state.load(self.name)  # takes a database round trip


async def test_start_returns_once_the_stages_are_subscribed(database):
    # A topic no group reads keeps only its newest max_backlog messages: publishing right
    # after start() must not race the stages' first consume.
    bus = MemoryBus(max_backlog=10)
    stage = LoadsState(unique("subscribed"))
    async with runner_for(bus, database, stage, poll_s=30):
        await bus.publish(envelopes("work", 50))
        await wait_until(lambda: stage.total() == 50, what="all 50 handled")
    await bus.close()


async def test_handled_messages_are_acknowledged_and_never_redelivered(hasty_bus, database):
    bus = hasty_bus
    stage = Recorder(unique("ack"), batch_size=7)
    async with runner_for(bus, database, stage):
        await bus.publish(envelopes("work", 30))
        await wait_until(lambda: stage.total() == 30, what="30 handled")
        assert await bus.lag_seconds("work", stage.name) == 0
        # Past the visibility timeout an unacknowledged delivery would come back.
        await asyncio.sleep(bus.visibility_timeout_s + 0.2)
    assert set(stage.handled.values()) == {1}
    assert messages(stage.name, "processed") == 30
    assert messages(stage.name, "retried") == messages(stage.name, "dead") == 0
    assert await bus.dead_letters("work") == []


async def test_a_poison_message_is_retried_then_dead_lettered_while_the_rest_flows(bus, database):
    stage = Recorder(unique("poison"), batch_size=10, poison={7})
    async with runner_for(bus, database, stage):
        await bus.publish(envelopes("work", 20))
        await wait_until(lambda: bus.dead_letters("work"), what="a dead letter")
        await wait_until(lambda: stage.total() == 19, what="the rest handled")

        [dead] = await bus.dead_letters("work")
        assert dead.envelope.payload == {"n": 7}
        assert dead.group == stage.name
        assert dead.attempts == bus.retry.max_attempts == 3
        assert dead.error == "ValueError: cannot handle n=7"
        assert stage.handled[7] == 0
        assert all(stage.handled[n] == 1 for n in range(20) if n != 7)

        # Its batch once, then alone on each of its attempts, spaced by the retry backoff.
        tries = [
            (at, batch) for at, batch in stage.calls if any(e.payload["n"] == 7 for e in batch)
        ]
        assert [len(batch) for _, batch in tries] == [10, 1, 1, 1]
        assert [batch[0].attempt for _, batch in tries[1:]] == [1, 2, 3]
        gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(tries[1:])]
        assert gaps[0] >= bus.retry.base_delay_s * 0.5 * 0.9
        assert gaps[1] >= bus.retry.base_delay_s * 2 * 0.5 * 0.9
        assert messages(stage.name, "processed") == 19
        assert messages(stage.name, "retried") == 2
        assert messages(stage.name, "dead") == 1

        # The fault is fixed; the dead letter is replayed and handled once.
        stage.poison.clear()
        assert await bus.replay_dead_letters("work") == 1
        await wait_until(lambda: stage.handled[7] == 1, what="the replayed message handled")
        assert await bus.dead_letters("work") == []
    assert stage.total() == 20


async def test_a_crashed_loop_is_restarted_with_backoff(bus, database):
    stage = Recorder(unique("crash"))
    runner = runner_for(bus, database, stage)
    async with runner:
        await bus.publish(envelopes("work", 3))
        await wait_until(lambda: stage.total() == 3, what="first messages")
        # The bus goes away: every consume raises BusUnavailable, outside handle.
        await bus.close()
        down = time.monotonic()
        await wait_until(lambda: runner.restarts(stage.name) >= 4, what="4 restarts")
        elapsed = time.monotonic() - down
        # Backoff, not a hot loop: at least the shortest draws of the first three delays.
        assert elapsed >= 0.05 * 0.5 * (1 + 2 + 4) * 0.9
        assert metric("shopfloor_pipeline_restarts_total", stage=stage.name) >= 4

        await bus.start()
        await bus.publish(envelopes("work", 2, start=3))
        await wait_until(lambda: stage.total() == 5, what="messages after the recovery")
    restarts = runner.restarts(stage.name)
    assert metric("shopfloor_pipeline_restarts_total", stage=stage.name) == restarts
    assert stage.events == ["start", "stop"]  # the loop restarts, the stage keeps its state


class FlakyStart(Recorder):
    def __init__(self, name: str, failures: int) -> None:
        super().__init__(name)
        self.failures = failures

    async def start(self, context) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database not reachable yet")
        await super().start(context)


async def test_a_failing_start_is_retried(bus, database):
    stage = FlakyStart(unique("flaky-start"), failures=2)
    runner = runner_for(bus, database, stage)
    async with runner:
        await bus.publish(envelopes("work", 4))
        await wait_until(lambda: stage.total() == 4, what="handled after start succeeded")
        assert runner.restarts(stage.name) == 2
    assert stage.events == ["start", "stop"]


class StrayCancel(Recorder):
    """Awaits a helper task that someone else cancels, once."""

    cancelled = False

    async def handle(self, envelopes: list[Envelope]) -> None:
        if not self.cancelled:
            self.cancelled = True
            helper = asyncio.create_task(asyncio.sleep(10))
            helper.cancel()
            await helper  # raises CancelledError into the loop, though nobody stopped it
        await super().handle(envelopes)


async def test_a_stray_cancellation_does_not_end_the_stage(hasty_bus, database):
    bus = hasty_bus
    stage = StrayCancel(unique("stray"))
    runner = runner_for(bus, database, stage)
    async with runner:
        await bus.publish(envelopes("work", 3))
        await wait_until(lambda: stage.total() == 3, what="handled after the restart")
        assert runner.restarts(stage.name) == 1
        assert runner.running


class Outage(Recorder):
    """Its dependency is down while ``down`` is set: not the messages' fault."""

    down = True

    async def handle(self, envelopes: list[Envelope]) -> None:
        if self.down:
            self.calls.append((time.monotonic(), list(envelopes)))
            raise StageUnavailable("the historian does not answer")
        await super().handle(envelopes)


async def test_an_outage_restarts_the_loop_and_fails_no_message(hasty_bus, database):
    bus = hasty_bus
    stage = Outage(unique("outage"))
    runner = runner_for(bus, database, stage)
    async with runner:
        await bus.publish(envelopes("work", 5))
        await wait_until(lambda: runner.restarts(stage.name) >= 2, what="restarts")
        stage.down = False
        # The unsettled batch comes back after the visibility timeout, still on attempt 1.
        await wait_until(lambda: stage.total() == 5, what="handled after the outage")
    assert messages(stage.name, "retried") == messages(stage.name, "dead") == 0
    assert await bus.dead_letters() == []
    assert all(e.attempt == 1 for _, batch in stage.calls for e in batch)


class Gated(Recorder):
    """Holds its batch until the test opens the gate."""

    def __init__(self, name: str) -> None:
        super().__init__(name, batch_size=5)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def handle(self, envelopes: list[Envelope]) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().handle(envelopes)
        self.events.append("handled")


async def test_stop_finishes_the_in_flight_batch_then_stops_the_stage(bus, database):
    stage = Gated(unique("drain"))
    runner = runner_for(bus, database, stage)
    await runner.start()
    await bus.publish(envelopes("work", 5))
    await asyncio.wait_for(stage.entered.wait(), 5)

    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()
    assert "stop" not in stage.events
    stage.gate.set()
    await asyncio.wait_for(stopping, 5)

    assert stage.events == ["start", "handled", "stop"]
    assert stage.total() == 5
    assert await bus.lag_seconds("work", stage.name) == 0  # acknowledged before stopping
    assert not runner.running


async def test_an_idle_stage_stops_at_once(bus, database):
    stage = Recorder(unique("idle"))
    runner = runner_for(bus, database, stage, poll_s=30)
    async with runner:
        await bus.publish(envelopes("work", 2))
        await wait_until(lambda: stage.total() == 2, what="handled")
        began = time.monotonic()  # the loop now waits up to poll_s for more
    assert time.monotonic() - began < 1
    assert stage.events == ["start", "stop"]
    assert await bus.lag_seconds("work", stage.name) == 0


async def test_stop_gives_up_on_a_batch_past_the_deadline(hasty_bus, database):
    bus = hasty_bus
    stage = Gated(unique("stuck"))
    runner = runner_for(bus, database, stage)
    await runner.start()
    await bus.publish(envelopes("work", 5))
    await asyncio.wait_for(stage.entered.wait(), 5)

    await asyncio.wait_for(runner.stop(timeout_s=0.2), 5)
    assert stage.events == ["start", "stop"]
    assert stage.total() == 0
    assert await bus.lag_seconds("work", stage.name) > 0  # left pending, redelivered later


async def test_run_until_signal_stops_on_sigterm(bus, database):
    stage = Recorder(unique("signal"))
    runner = runner_for(bus, database, stage)
    before = signal.getsignal(signal.SIGTERM)
    running = asyncio.create_task(runner.run_until_signal())
    # start() runs after the handlers are installed, so the signal cannot kill the test run.
    await wait_until(lambda: runner.is_started(stage.name), what="stage started")
    await bus.publish(envelopes("work", 3))
    await wait_until(lambda: stage.total() == 3, what="handled")
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(running, 5) == signal.SIGTERM
    assert stage.events == ["start", "stop"]
    assert signal.getsignal(signal.SIGTERM) == before


async def test_lag_is_reported_per_stage_and_topic(bus, database):
    stage = Gated(unique("lag"))
    runner = runner_for(bus, database, stage, lag_interval_s=0.05)
    old = Envelope(topic="work", key="k", payload={"n": 0}, created_at=time.time() - 60)
    await bus.publish([old])
    async with runner:
        labels = {"stage": stage.name, "topic": "work"}
        await wait_until(
            lambda: metric("shopfloor_pipeline_lag_seconds", **labels) >= 60, what="lag of 60 s"
        )
        stage.gate.set()
        await bus.publish(envelopes("work", 1, start=1))
        await wait_until(lambda: stage.total() == 2, what="handled")
        await wait_until(
            lambda: metric("shopfloor_pipeline_lag_seconds", **labels) < 5, what="caught up"
        )
    assert metric("shopfloor_pipeline_batch_seconds_count", stage=stage.name) >= 1


async def test_stages_are_checked_when_the_runner_is_built(bus, database):
    with pytest.raises(ValueError, match="unique"):
        runner_for(bus, database, Recorder("same"), Recorder("same", topic="other"))
    with pytest.raises(ValueError, match="visibility timeout"):
        runner_for(bus, database, Recorder("slow", batch_wait_s=bus.visibility_timeout_s))
