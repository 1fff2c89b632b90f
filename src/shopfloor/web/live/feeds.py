"""Feeds of keyed states: read the whole current state, report only what differs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from shopfloor.storage import Database
from shopfloor.web.live.broadcaster import LiveEvent


class StateFeed(ABC):
    """A feed whose events are whole states by key (a machine's status, a summary).

    Subclasses say how to read every current state; this compares it with the last reading and
    reports the keys whose state changed, appeared (``data`` the state) or went away (``data``
    None). States are compared with ``==``: frozen dataclasses or plain tuples and dicts.
    """

    topic: str

    def __init__(self) -> None:
        self._last: dict[str, Any] = {}

    def serves(self, topic: str) -> bool:
        return topic == self.topic

    @abstractmethod
    async def read(self, db: Database) -> dict[str, Any]:
        """Every current state, by key."""

    async def poll(self, db: Database, watched: frozenset[str]) -> list[LiveEvent]:
        current = await self.read(db)
        events = [
            LiveEvent(self.topic, data, key)
            for key, data in current.items()
            if key not in self._last or self._last[key] != data
        ]
        events += [LiveEvent(self.topic, None, key) for key in self._last if key not in current]
        self._last = current
        return events

    def snapshot(self, topics: frozenset[str]) -> list[LiveEvent]:
        if self.topic not in topics:
            return []
        return [LiveEvent(self.topic, data, key) for key, data in self._last.items()]

    def forget(self) -> None:
        self._last = {}
