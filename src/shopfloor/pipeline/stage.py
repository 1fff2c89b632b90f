"""What a stage is: a named consumer of one topic that handles batches of envelopes.

The runner delivers at least once, so ``handle`` must be idempotent: a replayed envelope (same
``Envelope.id``, possibly after a crash, a retry or a dead-letter replay) changes nothing the
second time. Stages get what they need for that from their ``StageContext``: the database for
effects keyed on the envelope id or on a per-key watermark, and the state store for state that
must survive a restart.

Errors from ``handle``:

* an ordinary exception is the messages' fault: the runner handles each envelope of the batch
  alone and fails only those that raise again (retried with backoff, then dead-lettered);
* ``StageUnavailable`` (any ``Unavailable``, e.g. ``BusUnavailable``, and connection errors)
  means a dependency is down, not that the messages are bad: the runner leaves the batch
  unacknowledged and restarts the stage's loop after a backoff, so an outage does not push
  healthy messages into the dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy import exc as sa_exc

from shopfloor.bus.base import Bus
from shopfloor.bus.message import Envelope
from shopfloor.bus.outbox import OutboxRelay
from shopfloor.core.errors import Unavailable
from shopfloor.pipeline.state import Checkpointer, StateStore
from shopfloor.storage.database import Database


class StageUnavailable(Unavailable):
    """A dependency of the stage is unreachable; the messages themselves are fine."""

    slug, title = "stage-unavailable", "Pipeline stage unavailable"


# Connection-level failures say nothing about the message being handled. Narrow on purpose: a
# handler bug that raises, say, FileNotFoundError for one message must still dead-letter it.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    Unavailable,  # BusUnavailable, StageUnavailable
    ConnectionError,
    TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE_ERRORS)


@dataclass(frozen=True)
class StageContext:
    """What the runner hands a stage at start: the bus, the database and the state store."""

    stage: str
    consumer: str
    bus: Bus
    database: Database
    state: StateStore
    # Publishes what a stage commits to the outbox right after the commit (None: the relay's
    # recovery publishes it later).
    relay: OutboxRelay | None = None

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish downstream. A bus that cannot be reached raises ``BusUnavailable``, which
        stops the loop (to be restarted) instead of failing the messages being handled."""
        if envelopes:
            await self.bus.publish(envelopes)

    def checkpointer(self, interval_s: float = 30.0) -> Checkpointer:
        """A checkpointer of this stage's state; close it in ``stop``."""
        return Checkpointer(self.state, self.stage, interval_s)


@runtime_checkable
class Stage(Protocol):
    name: str  # also the bus consumer group: several workers running it share its messages
    topic: str
    batch_size: int
    batch_wait_s: float  # a batch is handled when full or this long after its first message

    async def start(self, context: StageContext) -> None:
        """Acquire resources and load state; called once, before the first batch."""

    async def handle(self, envelopes: list[Envelope]) -> None:
        """Handle a batch; raise to have it retried. Must be idempotent per envelope id."""

    async def stop(self) -> None:
        """Checkpoint state and release resources; called once, after the last batch."""


class BaseStage:
    """Defaults for stages: keeps the context; subclasses set ``name``/``topic``, ``handle``."""

    name: str
    topic: str
    batch_size: int = 500
    batch_wait_s: float = 0.05

    _context: StageContext | None = None

    @property
    def context(self) -> StageContext:
        if self._context is None:
            raise RuntimeError(f"stage {self.name!r} has not been started")
        return self._context

    async def start(self, context: StageContext) -> None:
        self._context = context

    async def handle(self, envelopes: list[Envelope]) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        return None
