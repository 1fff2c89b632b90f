"""A circuit breaker: stop calling a server that keeps failing, and try it again later.

closed ──N consecutive failures──▶ open ──reset time passed──▶ half-open (one trial call)
  ▲                                  ▲                              │
  └──────────── trial succeeded ─────┼──────────────────────────────┤
                                     └──────── trial failed ────────┘
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failures of calls it allowed; ``clock`` is injectable for tests.

    Use: ``if breaker.allow(): call, then record_success() / record_failure()``; a call that
    ends with neither (cancelled) must call ``release()`` so a half-open trial slot is not
    held forever.
    """

    def __init__(
        self,
        failures_to_open: int = 5,
        reset_after_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures_to_open < 1:
            raise ValueError("failures_to_open must be at least 1")
        if reset_after_s < 0:
            raise ValueError("reset_after_s cannot be negative")
        self.failures_to_open = failures_to_open
        self.reset_after_s = reset_after_s
        self._clock = clock
        # Predictions may run on worker threads as well as on the event loop.
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def is_closed(self) -> bool:
        return self._state is BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a call may go to the server now. Open past the reset time turns half-open
        and lets exactly one trial call through; the others are refused until it ends."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                if self._clock() - self._opened_at < self.reset_after_s:
                    return False
                self._state = BreakerState.HALF_OPEN
                self._trial_in_flight = False
            if self._trial_in_flight:
                return False
            self._trial_in_flight = True
            return True

    def record_success(self) -> None:
        with self._lock:
            if self._state is BreakerState.OPEN:
                # A call let through before the breaker opened: too late to vouch for the server.
                return
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            if self._state is BreakerState.OPEN:
                return
            if self._state is BreakerState.HALF_OPEN:
                self._open()
                return
            self._failures += 1
            if self._failures >= self.failures_to_open:
                self._open()

    def release(self) -> None:
        """An allowed call ended without a verdict (cancelled): free the half-open trial."""
        with self._lock:
            self._trial_in_flight = False

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._trial_in_flight = False

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self._state.value}, failures={self._failures}/"
            f"{self.failures_to_open}, reset_after_s={self.reset_after_s})"
        )
