"""What every connector hands to the batcher: decoded messages, acknowledged after the commit.

A connector turns what a machine sent into a ``Message`` (paths, times, values) or raises
``Unreadable`` with a reason; the batcher commits many messages in one transaction and only
then calls each message's ``done`` (an MQTT PUBACK), so a crash before the commit loses nothing
the broker delivered: the broker sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Dead-letter kinds: a payload that could not be read (replayable once the cause is fixed), and
# a value the source itself marked bad (an OPC-UA bad status code): kept as a record only.
UNREADABLE = "unreadable"
REJECTED = "rejected"


class Unreadable(ValueError):
    """A payload that cannot become readings; ``str(exc)`` is the reason users read."""


@dataclass(slots=True)
class Message:
    """One message from a machine, decoded, waiting for its commit.

    ``topic`` is where it came from (an MQTT topic, an OPC-UA node id); ``payload`` the raw
    bytes, kept so that a message refused at commit time can go to the dead letters as sent.
    """

    source: str
    topic: str
    payload: bytes
    paths: list[str]
    ts_us: list[int]
    values: list[float]
    done: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(slots=True)
class DeadLetterIn:
    """A message that will not become readings, with why."""

    source: str
    topic: str
    payload: bytes
    reason: str
    kind: str = UNREADABLE
    received_at: float | None = None  # epoch seconds; now when not given


@dataclass(slots=True)
class ConnectorState:
    """What ``GET /connectors``, ``/health/ready`` and ``/metrics`` report of one connector."""

    name: str
    kind: str
    connected: bool = False
    messages: int = 0
    readings: int = 0
    errors: int = 0
    rejected: int = 0
    dead_letters: int = 0
    last_message_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    details: dict[str, object] = field(default_factory=dict)
