"""The Bus protocol: at-least-once delivery through named consumer groups.

Semantics every backend keeps (``tests/contracts/test_bus.py`` checks them on each):

* ``publish`` appends envelopes to a topic; it may wait (backpressure) but never drops.
* Each consumer group sees every message of the topic once; within a group, each message goes
  to one consumer at a time. A delivery stays pending until ``ack`` or ``fail``.
* A delivery neither acknowledged nor failed within the visibility timeout (its consumer died)
  is handed to another consumer of the group on a later ``consume``.
* ``fail`` schedules a retry after exponential backoff with jitter; after ``max_attempts``
  deliveries the message moves to the dead-letter topic with its error and attempt count.
* ``replay_dead_letters`` publishes dead letters to their topic again, as fresh attempts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shopfloor.bus.message import DeadLetter, Delivery, Envelope
from shopfloor.core.errors import Unavailable


class BusUnavailable(Unavailable):
    """The bus cannot be reached (Redis down past the reconnect retries) or is closed."""

    slug, title = "bus-unavailable", "Event bus unavailable"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    jitter: float = 0.5  # a delay is drawn from [d * (1 - jitter), d]

    def delay(self, attempt: int) -> float:
        """Seconds to wait before delivery number ``attempt + 1``."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return ceiling * (1 - self.jitter * random.random())


class Bus(Protocol):
    retry: RetryPolicy
    visibility_timeout_s: float

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise when the bus cannot be reached."""

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Append envelopes (of any topics) in order; returns once the bus holds them."""

    async def consume(
        self, topic: str, group: str, consumer: str, *, count: int, block_s: float
    ) -> list[Delivery]:
        """Up to ``count`` deliveries for this consumer, waiting at most ``block_s`` for one.

        Includes retries that have come due and deliveries other consumers of the group left
        pending past the visibility timeout.
        """

    async def ack(self, topic: str, group: str, receipts: Sequence[str]) -> None: ...

    async def fail(self, topic: str, group: str, delivery: Delivery, error: str) -> bool:
        """Settle a delivery whose handling failed: retry later, or dead-letter it.

        Returns True when the message went to the dead letters.
        """

    async def dead_letters(
        self, topic: str | None = None, limit: int = 100
    ) -> list[DeadLetter]: ...

    async def replay_dead_letters(self, topic: str | None = None) -> int:
        """Publish dead letters (of one topic, or all) again; returns how many."""

    async def lag_seconds(self, topic: str, group: str) -> float:
        """Age of the oldest message the group has not acknowledged (0 when none)."""
