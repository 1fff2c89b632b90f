"""The in-process bus: the Bus semantics on asyncio primitives, for one process (the default).

Per topic an append-only log (a deque with the offset of its first entry) and per consumer group
a read position, the pending deliveries and a heap of scheduled retries. Nothing is persisted:
the process is the bus, so a crash loses what was not acknowledged (the durable side is ingest's
commit, which can republish).

Bounds and backpressure:

* A group's *outstanding* messages are those it has not settled: unread, pending or waiting for a
  retry. ``publish`` waits while a topic's largest outstanding count (over its groups) has reached
  ``max_backlog``, and resumes as consumers ack, fail into the dead letters, or the bus closes.
* A topic no group reads yet never blocks a publisher: its log keeps the newest ``max_backlog``
  entries and drops older ones (as Redis' MAXLEN would), so that a topic without subscribers does
  not hold the process up or grow without end. A group created later starts at the oldest entry
  still retained, like a Redis group created at id 0.
* Entries every group has read are trimmed once the log holds more than ``max_backlog``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shopfloor.bus.base import BusUnavailable, RetryPolicy
from shopfloor.bus.message import DeadLetter, Delivery, Envelope


@dataclass(slots=True)
class _Pending:
    envelope: Envelope
    consumer: str
    delivered_at: float  # monotonic


@dataclass(slots=True)
class _Group:
    read_pos: int  # offset of the next entry of the log to hand out
    # Insertion order is delivery order: re-deliveries are moved to the end, so the oldest
    # delivery is always first and visibility expiry scans stop at the first fresh one.
    pending: dict[str, _Pending] = field(default_factory=dict)
    retries: list[tuple[float, int, Envelope]] = field(default_factory=list)  # (due, seq, env)

    def outstanding(self, end: int) -> int:
        return (end - self.read_pos) + len(self.pending) + len(self.retries)


class _Topic:
    def __init__(self) -> None:
        self.log: deque[Envelope] = deque()
        self.base = 0  # offset of log[0]
        self.groups: dict[str, _Group] = {}
        self.changed = asyncio.Condition()  # published, settled or closed

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def backlog(self) -> int:
        end = self.end
        return max((g.outstanding(end) for g in self.groups.values()), default=0)

    def trim(self, keep: int) -> None:
        floor = min((g.read_pos for g in self.groups.values()), default=self.end)
        while len(self.log) > keep and self.base < floor:
            self.log.popleft()
            self.base += 1


class MemoryBus:
    """A real, bounded, in-process bus. ``memory://`` selects it."""

    def __init__(
        self,
        *,
        max_backlog: int = 100_000,
        retry: RetryPolicy | None = None,
        visibility_timeout_s: float = 30.0,
    ) -> None:
        if max_backlog < 1:
            raise ValueError("max_backlog must be at least 1")
        self.max_backlog = max_backlog
        self.retry = retry or RetryPolicy()
        self.visibility_timeout_s = visibility_timeout_s
        self._topics: dict[str, _Topic] = {}
        self._dead: list[DeadLetter] = []
        self._receipts = itertools.count(1)
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, namespace: str | None = None, **options: Any) -> MemoryBus:
        """``memory://``. ``namespace`` (a Redis option) is accepted and has no use here: every
        in-process bus is already separate."""
        return cls(**options)

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for topic in self._topics.values():  # wake blocked consumers and publishers
            async with topic.changed:
                topic.changed.notify_all()

    async def ping(self) -> None:
        self._check_open()

    def _check_open(self) -> None:
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic()
        return topic

    def _receipt(self) -> str:
        return str(next(self._receipts))

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        envelopes = list(envelopes)
        start = 0
        while start < len(envelopes):  # runs of one topic, in order
            name = envelopes[start].topic
            stop = start + 1
            while stop < len(envelopes) and envelopes[stop].topic == name:
                stop += 1
            await self._append(self._topic(name), envelopes[start:stop])
            start = stop

    async def _append(self, topic: _Topic, batch: list[Envelope]) -> None:
        # A batch larger than the room left goes in by pieces, so a batch over max_backlog
        # still completes as consumers make room. Cancelling mid-way leaves a prefix published.
        done = 0
        async with topic.changed:
            while done < len(batch):
                self._check_open()
                room = self.max_backlog - topic.backlog() if topic.groups else len(batch)
                if room <= 0:
                    await topic.changed.wait()
                    continue
                piece = batch[done : done + room]
                topic.log.extend(piece)
                done += len(piece)
                topic.trim(self.max_backlog)
                topic.changed.notify_all()

    async def consume(
        self, topic: str, group: str, consumer: str, *, count: int, block_s: float
    ) -> list[Delivery]:
        self._check_open()
        t = self._topic(topic)
        g = t.groups.get(group)
        if g is None:
            g = t.groups[group] = _Group(read_pos=t.base)
        if count <= 0:
            return []
        deadline = time.monotonic() + block_s
        async with t.changed:
            while True:
                now = time.monotonic()
                out = self._take(t, g, consumer, count, now)
                if out or self._closed or now >= deadline:
                    return out
                # wake for a publish or settle (notified), or when a retry or expiry comes due
                wait = min(deadline, self._next_due(g)) - now
                try:
                    async with asyncio.timeout(max(wait, 0.001)):
                        await t.changed.wait()
                except TimeoutError:
                    pass

    def _next_due(self, g: _Group) -> float:
        """When a retry comes due or a pending delivery passes its visibility timeout."""
        due = g.retries[0][0] if g.retries else float("inf")
        if g.pending:
            oldest = next(iter(g.pending.values()))
            due = min(due, oldest.delivered_at + self.visibility_timeout_s)
        return due

    def _take(self, t: _Topic, g: _Group, consumer: str, count: int, now: float) -> list[Delivery]:
        out: list[Delivery] = []
        # 1. deliveries left pending past the visibility timeout (their consumer died)
        expired: list[str] = []
        for receipt, p in g.pending.items():
            if len(expired) >= count or p.delivered_at + self.visibility_timeout_s > now:
                break
            expired.append(receipt)
        for receipt in expired:
            p = g.pending.pop(receipt)
            p.consumer, p.delivered_at = consumer, now
            g.pending[receipt] = p  # to the end: the newest delivery again
            out.append(Delivery(receipt, p.envelope))
        # 2. retries that have come due
        while g.retries and len(out) < count and g.retries[0][0] <= now:
            _, _, envelope = heapq.heappop(g.retries)
            out.append(self._deliver(g, envelope, consumer, now))
        # 3. new entries of the log
        while g.read_pos < t.end and len(out) < count:
            envelope = t.log[g.read_pos - t.base]
            g.read_pos += 1
            out.append(self._deliver(g, envelope, consumer, now))
        return out

    def _deliver(self, g: _Group, envelope: Envelope, consumer: str, now: float) -> Delivery:
        receipt = self._receipt()
        g.pending[receipt] = _Pending(envelope, consumer, now)
        return Delivery(receipt, envelope)

    async def ack(self, topic: str, group: str, receipts: Sequence[str]) -> None:
        t = self._topics.get(topic)
        g = t.groups.get(group) if t else None
        if t is None or g is None:
            return
        async with t.changed:
            for receipt in receipts:
                g.pending.pop(receipt, None)  # unknown or already settled: nothing to do
            t.trim(self.max_backlog)
            t.changed.notify_all()

    async def fail(self, topic: str, group: str, delivery: Delivery, error: str) -> bool:
        """Settle a failed delivery. A delivery no longer pending (already settled, or the
        visibility timeout handed it to another consumer who settled it) changes nothing."""
        t = self._topics.get(topic)
        g = t.groups.get(group) if t else None
        p = g.pending.pop(delivery.receipt, None) if g else None
        if t is None or g is None or p is None:
            return False
        envelope = p.envelope
        dead = envelope.attempt >= self.retry.max_attempts
        if dead:
            self._dead.append(
                DeadLetter(
                    receipt=f"d{self._receipt()}",
                    envelope=envelope,
                    group=group,
                    error=error,
                    attempts=envelope.attempt,
                    failed_at=time.time(),
                )
            )
        else:
            due = time.monotonic() + self.retry.delay(envelope.attempt)
            heapq.heappush(g.retries, (due, next(self._receipts), envelope.retried()))
        async with t.changed:
            t.changed.notify_all()  # a consumer may wait for this retry; a publisher for room
        return dead

    async def dead_letters(self, topic: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Oldest first."""
        found = [d for d in self._dead if topic is None or d.envelope.topic == topic]
        return found[:limit]

    async def replay_dead_letters(self, topic: str | None = None) -> int:
        chosen = [d for d in self._dead if topic is None or d.envelope.topic == topic]
        # publish first, forget after: a replay interrupted mid-way may repeat, never lose
        await self.publish([d.envelope.fresh() for d in chosen])
        gone = {d.receipt for d in chosen}
        self._dead = [d for d in self._dead if d.receipt not in gone]
        return len(chosen)

    async def lag_seconds(self, topic: str, group: str) -> float:
        """Age (by ``created_at``) of the oldest message the group has not settled: unread,
        pending or waiting for a retry. A group not created yet would start at the oldest
        retained entry, so that entry's age is its lag."""
        t = self._topics.get(topic)
        if t is None:
            return 0.0
        g = t.groups.get(group)
        if g is None:
            created = [t.log[0].created_at] if t.log else []
        else:
            created = [p.envelope.created_at for p in g.pending.values()]
            created += [env.created_at for _, _, env in g.retries]
            if g.read_pos < t.end:
                created.append(t.log[g.read_pos - t.base].created_at)
        if not created:
            return 0.0
        return max(0.0, time.time() - min(created))
