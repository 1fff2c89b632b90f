"""A channel's rate limit: at most N messages per sliding window, then one digest per window.

Every attempt counts (a digest as one message), so a storm cannot hammer a receiver that is
failing either. When the window is full, the channel's waiting deliveries are *held*; once a
slot frees, everything held goes out as one digest. While a storm lasts (a digest went out
within the window), new events are held for the next digest instead of trickling out one by
one; a window without a digest brings the channel back to single messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(slots=True)
class Usage:
    """A channel's recent attempts: their start times, whether in flight, whether digests."""

    attempts: list[tuple[datetime, bool, bool]] = field(default_factory=list)

    def add(self, attempted_at: datetime, in_flight: bool, digest: bool) -> None:
        self.attempts.append((attempted_at, in_flight, digest))

    @property
    def in_flight(self) -> int:
        return sum(1 for _, flying, _ in self.attempts if flying)


@dataclass(frozen=True, slots=True)
class Decision:
    send: int = 0  # waiting deliveries to send one by one now
    digest: bool = False  # fold every waiting delivery into one digest now
    hold_beyond: int | None = None  # hold the waiting deliveries after the first this many
    look_again_at: datetime | None = None  # when the window frees (None: at the next poll)
    free: int = 0  # messages the window still allows

    @property
    def holds(self) -> bool:
        return self.hold_beyond is not None


def decide(
    *,
    limit: int,
    window_s: float,
    waiting: int,
    held: int,
    usage: Usage,
    slots: int,
    now: datetime,
) -> Decision:
    """What to do with a channel's ``waiting`` due deliveries (``held`` of them held before).

    ``slots`` is how many may start now (the channel's and the worker's concurrency).
    """
    window = timedelta(seconds=window_s)
    recent = [
        (at, flying, digest) for at, flying, digest in usage.attempts if flying or at > now - window
    ]
    digests = [(at, flying) for at, flying, digest in recent if digest]
    if digests:
        # A storm is on: everything waits for the next digest, a window after the last one.
        if any(flying for _, flying in digests):
            return Decision(hold_beyond=0)
        return Decision(hold_beyond=0, look_again_at=max(at for at, _ in digests) + window)
    free = limit - len(recent)
    if free <= 0:
        settled = [at for at, flying, _ in recent if not flying]
        frees_at = min(settled) + window if settled else None
        return Decision(hold_beyond=0, look_again_at=frees_at)
    if slots <= 0:
        return Decision()
    if held:
        # The window has room again: what was held goes out, as one message (the caller
        # first sends those that were let through before the hold and still wait for a slot).
        return Decision(send=1, free=free) if waiting == 1 else Decision(digest=True, free=free)
    send = min(waiting, free, slots)
    if waiting > free:
        return Decision(send=send, hold_beyond=free, free=free)
    return Decision(send=send, free=free)
