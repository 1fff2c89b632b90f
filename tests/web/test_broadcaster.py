"""The live broadcaster: who gets which events, state coalescing, snapshots, idle feeds, ends."""

from __future__ import annotations

import asyncio
from typing import Any

from shopfloor.storage import Database
from shopfloor.web.live import Broadcaster, LiveEvent, StateFeed


class Counters(StateFeed):
    """A state feed over a dict the test changes (read like a table would be)."""

    topic = "counters"

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, Any] = {}
        self.reads = 0

    async def read(self, db: Database) -> dict[str, Any]:
        self.reads += 1
        return dict(self.values)


class Ticks:
    """An appending feed: every poll adds one event per watched topic."""

    def __init__(self) -> None:
        self.count = 0

    def serves(self, topic: str) -> bool:
        return topic.startswith("ticks:")

    async def poll(self, db: Database, watched: frozenset[str]) -> list[LiveEvent]:
        self.count += 1
        return [LiveEvent(topic, self.count) for topic in sorted(watched)]

    def snapshot(self, topics: frozenset[str]) -> list[LiveEvent]:
        return []

    def forget(self) -> None:
        pass


def make() -> tuple[Broadcaster, Counters, Ticks]:
    broadcaster = Broadcaster(db=None, interval_s=3600)  # type: ignore[arg-type]
    counters, ticks = Counters(), Ticks()
    broadcaster.add_feed(counters)
    broadcaster.add_feed(ticks)
    return broadcaster, counters, ticks


async def test_a_subscriber_gets_changes_of_its_topics_only() -> None:
    broadcaster, counters, _ = make()
    counters.values = {"a": 1, "b": 1}
    async with broadcaster.subscribe(["ticks:x"]) as only_ticks:
        async with broadcaster.subscribe(["counters"]) as only_counters:
            await broadcaster.poll_once()
            counters.values = {"a": 2, "b": 1}
            await broadcaster.poll_once()
            got = await only_counters.next_batch(0)
            # What it started from (read as it subscribed), then what changed.
            assert [(e.key, e.data) for e in got or []] == [("b", 1), ("a", 2)]
        # Tick 1 was read as it subscribed and went to those who watched before it.
        assert [e.data for e in await only_ticks.next_batch(0) or []] == [2, 3]


async def test_a_newer_state_replaces_one_not_yet_delivered() -> None:
    broadcaster, counters, _ = make()
    async with broadcaster.subscribe(["counters"]) as subscription:
        for value in range(5):
            counters.values = {"a": value}
            await broadcaster.poll_once()
        assert [(e.key, e.data) for e in await subscription.next_batch(0) or []] == [("a", 4)]


async def test_a_new_subscriber_starts_from_the_current_state() -> None:
    broadcaster, counters, _ = make()
    counters.values = {"a": 7, "gone": 1}
    async with broadcaster.subscribe(["counters"]):
        await broadcaster.poll_once()
        counters.values = {"a": 7}
        await broadcaster.poll_once()
        async with broadcaster.subscribe(["counters"]) as late:
            assert [(e.key, e.data) for e in await late.next_batch(0) or []] == [("a", 7)]


async def test_a_new_subscriber_starts_from_the_state_read_as_it_subscribes() -> None:
    broadcaster, counters, _ = make()
    async with broadcaster.subscribe(["counters"]) as first:
        counters.values = {"a": 1}
        await broadcaster.poll_once()
        counters.values = {"a": 2}  # changed since the last turn: a page rendered now shows 2
        async with broadcaster.subscribe(["counters"]) as second:
            assert [(e.key, e.data) for e in await second.next_batch(0) or []] == [("a", 2)]
        # The earlier subscriber hears of the change at once, not a turn later.
        assert [(e.key, e.data) for e in await first.next_batch(0) or []] == [("a", 2)]


async def test_nothing_is_read_while_nobody_watches_and_all_is_reported_after() -> None:
    broadcaster, counters, ticks = make()
    counters.values = {"a": 1}
    await broadcaster.poll_once()
    assert (counters.reads, ticks.count) == (0, 0)
    async with broadcaster.subscribe(["counters"]):
        await broadcaster.poll_once()
    await broadcaster.poll_once()  # nobody: the feed forgets what it saw
    async with broadcaster.subscribe(["counters"]) as again:
        await broadcaster.poll_once()
        assert [(e.key, e.data) for e in await again.next_batch(0) or []] == [("a", 1)]


async def test_appending_events_are_capped_per_subscriber() -> None:
    broadcaster, _, _ = make()
    async with broadcaster.subscribe(["ticks:x"]) as subscription:
        subscription.max_pending = 3
        for _ in range(5):
            await broadcaster.poll_once()
        assert [e.data for e in await subscription.next_batch(0) or []] == [4, 5, 6]
        assert subscription.dropped == 2


async def test_the_running_broadcaster_delivers_and_closing_ends_every_stream() -> None:
    broadcaster = Broadcaster(db=None, interval_s=0.01)  # type: ignore[arg-type]
    counters = Counters()
    broadcaster.add_feed(counters)
    counters.values = {"a": 1}
    await broadcaster.start()
    try:
        async with broadcaster.subscribe(["counters"]) as subscription:
            first = await asyncio.wait_for(anext(aiter(subscription)), 5)
            assert (first.key, first.data) == ("a", 1)
            broadcaster.close_streams()
            assert await asyncio.wait_for(subscription.next_batch(), 5) is None
        async with broadcaster.subscribe(["counters"]) as too_late:
            assert too_late.closed
    finally:
        await broadcaster.stop()
