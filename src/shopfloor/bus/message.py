"""What travels on the bus: an envelope around a JSON payload, and what a consumer receives."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message. ``id`` stays the same through retries and replays: handlers dedupe on it."""

    topic: str
    key: str  # the sensor or asset path: what partitioning and ordering follow
    payload: dict[str, Any]
    id: str = field(default_factory=new_id)
    schema_version: int = 1
    created_at: float = field(default_factory=time.time)  # epoch seconds
    attempt: int = 1  # 1 on the first delivery, +1 on each retry

    def retried(self) -> Envelope:
        return replace(self, attempt=self.attempt + 1)

    def fresh(self) -> Envelope:
        """The same message for a new round of attempts (a dead letter being replayed)."""
        return replace(self, attempt=1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """An envelope handed to one consumer of a group, to be acknowledged or failed."""

    receipt: str  # the backend's handle for ack/fail (a stream entry id, a sequence number)
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that kept failing: kept with its error and how often it was tried."""

    receipt: str
    envelope: Envelope
    group: str
    error: str
    attempts: int
    failed_at: float
