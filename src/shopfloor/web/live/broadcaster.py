"""One task per process that reads what changed from the database and fans it out to browsers.

Why the database and not the bus: the dashboard must show the same thing whichever API process
a browser is connected to, on either bus, including changes made by workers elsewhere. Every
process polls the shared database about once a second; nothing is polled while nobody watches.

Feeds say what to read. A feed serves some topics (``"plant.status"``, ``"readings:<path>"``)
and, when polled, returns ``LiveEvent``s: what changed since its last poll. Pages subscribe to
topics and render each event for their own viewer (events carry data, never HTML, so that what
a viewer may see and do is decided per viewer).

Events with a ``key`` describe the whole current state of that thing (a machine's status): a
newer one replaces one not yet delivered, so a slow browser gets the latest state, not a
backlog. Events without a key (new readings) queue up, at most ``max_pending`` of them per
subscriber; past that the oldest are dropped and the subscription counts them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.web.live")

POLL_INTERVAL_S = 1.0
MAX_PENDING = 1000


@dataclass(frozen=True, slots=True)
class LiveEvent:
    topic: str
    data: Any
    # The thing whose whole state this is (an asset path); None for events that add up.
    key: str | None = None


class Feed(Protocol):
    """A source of live events, polled by the broadcaster while one of its topics is watched."""

    def serves(self, topic: str) -> bool:
        """True for the topics this feed produces."""
        ...

    async def poll(self, db: Database, watched: frozenset[str]) -> list[LiveEvent]:
        """What changed since the last poll, for the watched topics among those it serves."""
        ...

    def snapshot(self, topics: frozenset[str]) -> list[LiveEvent]:
        """The current state as last polled (keyed events only), for a new subscriber."""
        ...

    def forget(self) -> None:
        """Nobody watched for a while: the next poll must report everything again."""
        ...


class Subscription:
    """Events of some topics for one browser; iterate it until it ends (the broadcaster stops)."""

    def __init__(self, topics: frozenset[str], max_pending: int = MAX_PENDING) -> None:
        self.topics = topics
        self.max_pending = max_pending
        self.dropped = 0
        self._pending: OrderedDict[tuple[str, Any], LiveEvent] = OrderedDict()
        self._serial = itertools.count()
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, event: LiveEvent) -> None:
        if self._closed or event.topic not in self.topics:
            return
        slot = (event.topic, event.key if event.key is not None else ("#", next(self._serial)))
        self._pending.pop(slot, None)  # a newer state goes to the back, behind older news
        self._pending[slot] = event
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
            self.dropped += 1
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    @property
    def closed(self) -> bool:
        return self._closed

    async def next_batch(self, wait_s: float | None = None) -> list[LiveEvent] | None:
        """The events waiting; [] when none came within ``wait_s``; None once closed."""
        if not self._pending and not self._closed:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait_s)
        self._ready.clear()
        if not self._pending and self._closed:
            return None
        batch = list(self._pending.values())
        self._pending.clear()
        return batch

    def __aiter__(self) -> AsyncIterator[LiveEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[LiveEvent]:
        while (batch := await self.next_batch()) is not None:
            for event in batch:
                yield event


class Broadcaster:
    """Polls its feeds while someone watches; hands each event to its topic's subscribers."""

    def __init__(self, db: Database, interval_s: float = POLL_INTERVAL_S) -> None:
        self.db = db
        self.interval_s = interval_s
        self._feeds: list[Feed] = []
        self._idle: dict[int, bool] = {}  # feed index → nobody watched at its last turn
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._polling = asyncio.Lock()  # one turn at a time: a turn compares with the last
        self._stopping = False

    def add_feed(self, feed: Feed) -> None:
        self._feeds.append(feed)
        self._idle[len(self._feeds) - 1] = True

    @asynccontextmanager
    async def subscribe(self, topics: Iterable[str]) -> AsyncIterator[Subscription]:
        """Events of ``topics`` from now on, starting with the current state of each."""
        subscription = Subscription(frozenset(topics))
        if self._stopping:
            subscription.close()
        else:
            # The snapshot is read now, not taken from the last turn: the page was rendered a
            # moment ago, and a state older than that would overwrite it (and its correction,
            # one turn later, can come too soon after for the page to take it).
            async with self._polling:
                await self._poll(subscription.topics, only=subscription.topics)
                self._subscriptions.add(subscription)
                for feed in self._feeds_for(subscription.topics):
                    for event in feed.snapshot(subscription.topics):
                        subscription.offer(event)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            subscription.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="web-live-broadcaster")

    def close_streams(self) -> None:
        """End every subscription (the process is about to stop); new ones end at once."""
        self._stopping = True
        for subscription in list(self._subscriptions):
            subscription.close()

    async def stop(self) -> None:
        self.close_streams()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll_once(self) -> None:
        """One turn: poll each watched feed and deliver what it reports."""
        async with self._polling:
            await self._poll()

    async def _poll(
        self, also: frozenset[str] = frozenset(), only: frozenset[str] | None = None
    ) -> None:
        """Poll the watched feeds (with ``also`` watched), or of those the ones serving
        ``only``; earlier subscribers get what they report."""
        watched = also.union(*(s.topics for s in self._subscriptions))
        for index, feed in enumerate(self._feeds):
            if only is not None and not any(feed.serves(topic) for topic in only):
                continue
            topics = frozenset(topic for topic in watched if feed.serves(topic))
            if not topics:
                if not self._idle[index]:
                    feed.forget()  # what it last saw will be stale when someone comes back
                self._idle[index] = True
                continue
            self._idle[index] = False
            try:
                events = await feed.poll(self.db, topics)
            except Exception as exc:  # a database hiccup: report, keep serving the others
                log.warning("live feed poll failed", feed=type(feed).__name__, error=str(exc))
                continue
            self.publish(events)

    def publish(self, events: Iterable[LiveEvent]) -> None:
        for event in events:
            for subscription in self._subscriptions:
                subscription.offer(event)

    def _feeds_for(self, topics: frozenset[str]) -> list[Feed]:
        return [feed for feed in self._feeds if any(feed.serves(topic) for topic in topics)]

    async def _run(self) -> None:
        while True:
            if self._subscriptions:
                await self.poll_once()
            await asyncio.sleep(self.interval_s)
