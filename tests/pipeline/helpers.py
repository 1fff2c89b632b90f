"""Stages for the pipeline tests: real stages that record what they handled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from prometheus_client import REGISTRY

from shopfloor.bus.message import Envelope
from shopfloor.pipeline import BaseStage, StageContext


def unique(prefix: str) -> str:
    """A stage name of its own: metrics are process-wide and tests run once per database."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def envelopes(topic: str, count: int, start: int = 0, key: str = "acme/line/m1") -> list[Envelope]:
    return [Envelope(topic=topic, key=key, payload={"n": n}) for n in range(start, start + count)]


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], within_s: float = 5.0, what: str = ""
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what or condition}")
        await asyncio.sleep(0.01)


class Recorder(BaseStage):
    """Handles a batch all or nothing, raising for the payloads ``n`` listed in ``poison``."""

    def __init__(
        self,
        name: str,
        topic: str = "work",
        *,
        batch_size: int = 10,
        batch_wait_s: float = 0.05,
        poison: set[int] | None = None,
    ) -> None:
        self.name, self.topic = name, topic
        self.batch_size, self.batch_wait_s = batch_size, batch_wait_s
        self.poison = poison or set()
        self.calls: list[tuple[float, list[Envelope]]] = []  # every handle call, with its time
        self.handled: Counter[int] = Counter()  # n -> times handled successfully
        self.events: list[str] = []

    async def start(self, context: StageContext) -> None:
        await super().start(context)
        self.events.append("start")

    async def handle(self, envelopes: list[Envelope]) -> None:
        self.calls.append((time.monotonic(), list(envelopes)))
        for envelope in envelopes:
            if envelope.payload["n"] in self.poison:
                raise ValueError(f"cannot handle n={envelope.payload['n']}")
        self.handled.update(envelope.payload["n"] for envelope in envelopes)

    async def stop(self) -> None:
        self.events.append("stop")

    def total(self) -> int:
        return sum(self.handled.values())
