"""Reconnect delays: exponential with full jitter, reset after a connection that held."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first_s: float = 0.5, max_s: float = 30.0) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.first_s * 2**self.failures)
        self.failures = min(self.failures + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
