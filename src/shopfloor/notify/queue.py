"""The delivery queue in the database: claim what is due (rate limits applied), settle outcomes.

Several worker processes may share the queue. A claim is one transaction: on PostgreSQL it
locks the channels it serves (``FOR NO KEY UPDATE SKIP LOCKED``: another worker serves other
channels meanwhile, and inserts of new deliveries are not blocked); on SQLite the database
serialises writers. Claimed rows are ``sending`` until ``claimed_until``; a worker that dies
leaves them to be reclaimed by the next claim after that (delivery is at least once; receivers
can drop repeats by the ``X-Shopfloor-Delivery`` id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.bus.base import RetryPolicy
from shopfloor.notify import ratelimit, records
from shopfloor.notify.digests import form_digest, waiting_of
from shopfloor.notify.models import (
    DEAD,
    DIGEST_EVENT,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    WAITING,
    Channel,
    Delivery,
)
from shopfloor.notify.senders import ChannelInfo, Message
from shopfloor.storage.database import Database


@dataclass(frozen=True, slots=True)
class Claimed:
    channel: ChannelInfo
    message: Message
    attempts: int  # including this one
    folded: int = 0  # deliveries in this digest


@dataclass(frozen=True, slots=True)
class Outcome:
    error: str | None = None
    permanent: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    status: str  # sent, failed (to be retried) or dead
    folded: int
    next_attempt_at: datetime | None = None


@dataclass(slots=True)
class ClaimResult:
    claimed: list[Claimed]
    look_again_at: datetime | None = None  # when a held channel's window frees

    def look_again(self, moment: datetime | None) -> None:
        if moment is not None and (self.look_again_at is None or moment < self.look_again_at):
            self.look_again_at = moment


@dataclass(frozen=True, slots=True)
class _Due:
    waiting: int
    held: int
    digests: int
    oldest: datetime


def _unsettled() -> list[Any]:
    return [Delivery.status.in_(WAITING), Delivery.digest_id.is_(None)]


class DeliveryQueue:
    def __init__(
        self,
        database: Database,
        worker: str,
        *,
        retry: RetryPolicy,
        claim_ttl_s: float = 60.0,
        channel_concurrency: int = 4,
    ) -> None:
        self.database = database
        self.worker = worker
        self.retry = retry
        self.claim_ttl_s = claim_ttl_s
        self.channel_concurrency = channel_concurrency

    async def has_work(self, now: datetime) -> bool:
        """A cheap read: is anything due, or a claim expired?"""
        query = select(Delivery.id).where(
            Delivery.digest_id.is_(None),
            or_(
                Delivery.status.in_(WAITING) & (Delivery.next_attempt_at <= now),
                (Delivery.status == SENDING) & (Delivery.claimed_until < now),
            ),
        )
        async with self.database.read() as session:
            return await session.scalar(query.limit(1)) is not None

    async def unsettled(self) -> int:
        """Deliveries not yet sent, dead or skipped (held ones and those in a digest under
        way included; the digests themselves not)."""
        query = select(func.count()).where(
            Delivery.status.in_((*WAITING, SENDING)), Delivery.event != DIGEST_EVENT
        )
        async with self.database.read() as session:
            return int(await session.scalar(query) or 0)

    async def claim(self, capacity: int, now: datetime) -> ClaimResult:
        """Claim up to ``capacity`` messages that are due, channel by channel, oldest first."""
        result = ClaimResult([])
        async with self.database.write() as session:
            await records.reclaim_expired(session, now, self.retry.max_attempts)
            due = await self._due_by_channel(session, now)
            if not due:
                return result
            channels = await self._lock(session, list(due))
            usage = await self._usage(session, channels, now)
            for channel in sorted(channels, key=lambda c: due[c.id].oldest):
                room = capacity - len(result.claimed)
                if room <= 0:
                    break
                if not channel.enabled:
                    await self._skip_due(session, channel.id, now, "the channel is disabled")
                    continue
                claimed = _ChannelClaim(self, session, channel, now, result)
                await claimed.run(due[channel.id], usage[channel.id], room)
        return result

    def claim_values(self, now: datetime) -> dict[str, Any]:
        return {
            "claimed_by": self.worker,
            "claimed_until": now + timedelta(seconds=self.claim_ttl_s),
        }

    async def _due_by_channel(self, session: AsyncSession, now: datetime) -> dict[int, _Due]:
        is_digest = Delivery.event == DIGEST_EVENT
        rows = await session.execute(
            select(
                Delivery.channel_id,
                func.sum(case((is_digest, 0), else_=1)),
                func.count(Delivery.held_at),
                func.sum(case((is_digest, 1), else_=0)),
                func.min(Delivery.next_attempt_at),
            )
            .where(*_unsettled(), Delivery.next_attempt_at <= now)
            .group_by(Delivery.channel_id)
        )
        return {
            channel_id: _Due(int(waiting), int(held), int(digests), oldest)
            for channel_id, waiting, held, digests, oldest in rows
        }

    async def _lock(self, session: AsyncSession, ids: list[int]) -> Sequence[Channel]:
        query = (
            select(Channel)
            .where(Channel.id.in_(ids))
            .order_by(Channel.id)
            .with_for_update(skip_locked=True, key_share=True)
        )
        return (await session.scalars(query)).all()

    async def _usage(
        self, session: AsyncSession, channels: Sequence[Channel], now: datetime
    ) -> dict[int, ratelimit.Usage]:
        """Each channel's attempts within its window, and those in flight."""
        usage = {channel.id: ratelimit.Usage() for channel in channels}
        if not channels:
            return usage
        longest = max(channel.rate_limit_window_s for channel in channels)
        rows = await session.execute(
            select(
                Delivery.channel_id, Delivery.attempted_at, Delivery.status, Delivery.event
            ).where(
                Delivery.channel_id.in_(list(usage)),
                Delivery.digest_id.is_(None),
                or_(
                    Delivery.attempted_at > now - timedelta(seconds=longest),
                    Delivery.status == SENDING,
                ),
            )
        )
        for channel_id, attempted_at, status, event in rows:
            usage[channel_id].add(attempted_at or now, status == SENDING, event == DIGEST_EVENT)
        return usage

    async def _skip_due(
        self, session: AsyncSession, channel_id: int, now: datetime, reason: str
    ) -> None:
        due = [Delivery.channel_id == channel_id, *_unsettled(), Delivery.next_attempt_at <= now]
        digests = list(
            await session.scalars(select(Delivery.id).where(*due, Delivery.event == DIGEST_EVENT))
        )
        values = {"status": SKIPPED, "last_error": reason, "claimed_by": None}
        await session.execute(
            update(Delivery)
            .where(*due)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if digests:
            await records.mirror(session, digests, values)

    def _outcome_values(self, claimed: Claimed, outcome: Outcome, now: datetime) -> dict[str, Any]:
        if outcome.error is None:
            return {
                "status": SENT,
                "sent_at": now,
                "last_error": None,
                "claimed_by": None,
                "claimed_until": None,
            }
        if outcome.permanent or claimed.attempts >= self.retry.max_attempts:
            return records.failure(DEAD, outcome.error)
        delay = self.retry.delay(claimed.attempts)
        if outcome.retry_after_s is not None:  # the receiver said when (429, 503)
            delay = max(delay, min(outcome.retry_after_s, self.retry.max_delay_s))
        return {
            **records.failure(FAILED, outcome.error),
            "next_attempt_at": now + timedelta(seconds=delay),
        }

    async def settle(
        self, outcomes: Sequence[tuple[Claimed, Outcome]], now: datetime
    ) -> list[Settled | None]:
        """Record how attempts went, in one transaction. None for a delivery whose claim had
        expired and was taken over by another worker."""
        settled: list[Settled | None] = []
        async with self.database.write() as session:
            for claimed, outcome in outcomes:
                values = self._outcome_values(claimed, outcome, now)
                folded = await records.set_claimed(
                    session, claimed.message.delivery_id, values, claimed_by=self.worker
                )
                settled.append(
                    None
                    if folded is None
                    else Settled(values["status"], folded, values.get("next_attempt_at"))
                )
        return settled

    async def release(self) -> int:
        """Hand this worker's unfinished claims back (a stop that could not wait for them)."""
        values = {
            "status": PENDING,
            "attempts": Delivery.attempts - 1,
            "claimed_by": None,
            "claimed_until": None,
        }
        async with self.database.write() as session:
            ids = list(
                await session.scalars(
                    select(Delivery.id).where(
                        Delivery.status == SENDING,
                        Delivery.digest_id.is_(None),
                        Delivery.claimed_by == self.worker,
                    )
                )
            )
            for row_id in ids:
                await records.set_claimed(session, row_id, values, claimed_by=self.worker)
        return len(ids)


class _ChannelClaim:
    """One channel's share of a claim: digests to retry, single messages, holds, a digest."""

    def __init__(
        self,
        queue: DeliveryQueue,
        session: AsyncSession,
        channel: Channel,
        now: datetime,
        result: ClaimResult,
    ) -> None:
        self.queue, self.session, self.channel, self.now = queue, session, channel, now
        self.result = result
        self.info = ChannelInfo(channel.id, channel.name, channel.kind, dict(channel.config))

    async def run(self, due: _Due, usage: ratelimit.Usage, room: int) -> None:
        slots = min(self.queue.channel_concurrency - usage.in_flight, room)
        if due.digests and slots > 0:
            # A digest that failed goes again as it is; it counted when it was formed.
            retried = await self._take(await self._first(slots, digests=True))
            slots -= len(retried)
            for _ in retried:
                usage.add(self.now, True, True)
        decision = ratelimit.decide(
            limit=self.channel.rate_limit_messages,
            window_s=self.channel.rate_limit_window_s,
            waiting=due.waiting,
            held=due.held,
            usage=usage,
            slots=slots,
            now=self.now,
        )
        self.result.look_again(decision.look_again_at)
        if decision.digest:
            await self._digest(decision.free, slots)
            return
        keep = await self._first(max(decision.send, decision.hold_beyond or 0))
        await self._take(keep[: decision.send])
        if decision.holds:
            await self._hold(keep[: decision.hold_beyond])

    async def _digest(self, free: int, slots: int) -> None:
        # Those let through before the hold that still wait for a slot go first, one by one.
        first = await self._first(free, with_held=True)
        let_through = []
        for row_id, held_at in first:
            if held_at is not None:
                break
            let_through.append(row_id)
        if let_through:
            await self._take(let_through[:slots])
            return
        claim = self.queue.claim_values(self.now)
        digest = await form_digest(self.session, self.channel, self.now, claim)
        if digest is not None:
            message = Message(digest.id, DIGEST_EVENT, digest.payload)
            self.result.claimed.append(Claimed(self.info, message, 1, digest.payload["count"]))

    async def _first(
        self, count: int, *, digests: bool = False, with_held: bool = False
    ) -> list[Any]:
        """The first ``count`` due deliveries (ids, or (id, held_at)), oldest first."""
        if count <= 0:
            return []
        conditions = waiting_of(self.channel.id, self.now)
        if digests:
            conditions[-1] = Delivery.event == DIGEST_EVENT
        columns = (Delivery.id, Delivery.held_at) if with_held else (Delivery.id,)
        query = (
            select(*columns)
            .where(*conditions)
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(count)
        )
        rows = (await self.session.execute(query)).all()
        return [tuple(row) for row in rows] if with_held else [row[0] for row in rows]

    async def _take(self, ids: list[int]) -> list[Claimed]:
        if not ids:
            return []
        rows = await self.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), *_unsettled())
            .values(
                status=SENDING,
                attempts=Delivery.attempts + 1,
                attempted_at=self.now,
                **self.queue.claim_values(self.now),
            )
            .returning(Delivery.id, Delivery.event, Delivery.payload, Delivery.attempts)
            .execution_options(synchronize_session=False)
        )
        claimed = [
            Claimed(self.info, Message(row_id, event, payload), attempts)
            for row_id, event, payload, attempts in sorted(rows, key=lambda row: row[0])
        ]
        self.result.claimed.extend(claimed)
        return claimed

    async def _hold(self, keep: list[int]) -> None:
        query = update(Delivery).where(
            *waiting_of(self.channel.id, self.now), Delivery.held_at.is_(None)
        )
        if keep:
            query = query.where(Delivery.id.not_in(keep))
        await self.session.execute(
            query.values(held_at=self.now).execution_options(synchronize_session=False)
        )
