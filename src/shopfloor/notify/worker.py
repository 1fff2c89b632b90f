"""The delivery worker: sends due deliveries, concurrently but bounded, retrying with backoff.

``NotifyStage`` inserts deliveries and calls ``wake()``, so the first message of an alarm
leaves at once; otherwise the worker looks every ``poll_s`` (retries that came due, windows that
freed, claims of crashed workers). Each delivery has its own timeout and each channel its own
concurrency, so one slow or dead receiver never holds the others up.

    worker = DeliveryWorker(db, smtp=SmtpConfig.from_settings(settings))
    await worker.start()   # ... worker.wake() after inserting deliveries ...
    await worker.stop()
"""

from __future__ import annotations

import asyncio
import heapq
import os
import socket
import time
import uuid
from contextlib import suppress
from datetime import datetime
from types import TracebackType

import httpx
import structlog

from shopfloor.bus.base import RetryPolicy
from shopfloor.core.clock import utcnow
from shopfloor.notify import metrics
from shopfloor.notify.queue import Claimed, DeliveryQueue, Outcome, Settled
from shopfloor.notify.senders import Senders, SendFailed, SmtpConfig, new_http_client
from shopfloor.readings.groupcommit import GroupCommitter
from shopfloor.storage.database import Database

log = structlog.get_logger("shopfloor.notify")

# 1 s, 2 s, 4 s ... capped at 5 min, jittered; the 6th failed attempt is final.
DEFAULT_RETRY = RetryPolicy(max_attempts=6, base_delay_s=1.0, max_delay_s=300.0, jitter=0.5)
DB_BACKOFF_S = (0.1, 0.5, 2.0)
GAUGE_EVERY_S = 2.0
RECORD_GROUP = 500  # outcomes recorded in one transaction at most
MAX_REMEMBERED = 1000  # moments to look again at; beyond them, the poll finds the rest


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class DeliveryWorker:
    def __init__(
        self,
        database: Database,
        *,
        smtp: SmtpConfig | None = None,
        public_url: str = "http://127.0.0.1:8000",
        retry: RetryPolicy = DEFAULT_RETRY,
        concurrency: int = 32,
        channel_concurrency: int = 4,
        delivery_timeout_s: float = 30.0,
        claim_ttl_s: float = 90.0,
        poll_s: float = 1.0,
        http: httpx.AsyncClient | None = None,
        name: str | None = None,
    ) -> None:
        if claim_ttl_s <= delivery_timeout_s:
            raise ValueError("claim_ttl_s must exceed delivery_timeout_s")
        self.name = name or worker_name()
        self.queue = DeliveryQueue(
            database,
            self.name,
            retry=retry,
            claim_ttl_s=claim_ttl_s,
            channel_concurrency=channel_concurrency,
        )
        self.smtp = smtp or SmtpConfig()
        self.public_url = public_url
        self.concurrency = concurrency
        self.delivery_timeout_s = delivery_timeout_s
        self.poll_s = poll_s
        self._http = http
        self._own_http = http is None
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._look_again: list[datetime] = []  # a heap of moments something comes due
        self._gauge_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._drain_s = 10.0
        self._recorder: GroupCommitter[tuple[Claimed, Outcome], Settled | None] = GroupCommitter(
            self._record, self._record_one, max_group_size=RECORD_GROUP
        )

    def wake(self) -> None:
        """Look for due deliveries now (new ones were just inserted)."""
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        return len(self._sending)

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"notify-worker:{self.name}")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop claiming; let messages in flight finish (until ``timeout_s``), hand back the rest.

        Also ends a ``run()`` awaited elsewhere; this then returns at once.
        """
        self._drain_s = timeout_s
        self._stopping.set()
        self._wakeup.set()
        if self._task is not None:
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> DeliveryWorker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self) -> None:
        """Deliver until ``stop``."""
        if self._http is None:
            self._http = new_http_client()
        senders = Senders(self._http, self.smtp, self.public_url)
        failures = 0
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()
                try:
                    wait = await self._cycle(senders)
                    failures = 0
                except Exception as exc:  # the database is away: look again later
                    wait = DB_BACKOFF_S[min(failures, len(DB_BACKOFF_S) - 1)]
                    failures += 1
                    log.warning("delivery cycle failed", error=str(exc), retry_in_s=wait)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
        finally:
            await self._finish()

    async def _cycle(self, senders: Senders) -> float:
        """Claim and start what is due; returns how long to wait before looking again."""
        await self._update_gauge()
        room = self.concurrency - len(self._sending)
        now = utcnow()
        while self._look_again and self._look_again[0] <= now:
            heapq.heappop(self._look_again)  # this cycle looks
        if room > 0 and await self.queue.has_work(now):
            result = await self.queue.claim(room, now)
            for claimed in result.claimed:
                task = asyncio.create_task(self._deliver(senders, claimed))
                self._sending.add(task)
                task.add_done_callback(self._sent)
            self._remember(result.look_again_at)
        if not self._look_again:
            return self.poll_s
        until = (self._look_again[0] - utcnow()).total_seconds()
        return min(self.poll_s, max(until, 0.005))

    def _remember(self, moment: datetime | None) -> None:
        """Look again at ``moment`` (a retry or a window coming due) rather than at the poll."""
        if moment is not None and moment not in self._look_again:
            heapq.heappush(self._look_again, moment)
            if len(self._look_again) > MAX_REMEMBERED:
                self._look_again = heapq.nsmallest(MAX_REMEMBERED // 2, self._look_again)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wakeup.set()  # room for more

    async def _deliver(self, senders: Senders, claimed: Claimed) -> None:
        kind = claimed.channel.kind
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.delivery_timeout_s):
                await senders.send(claimed.channel, claimed.message)
            outcome = Outcome()
        except SendFailed as exc:
            outcome = Outcome(exc.reason, exc.permanent, exc.retry_after_s)
        except TimeoutError:
            outcome = Outcome(f"no answer within {self.delivery_timeout_s:g} s")
        except Exception as exc:
            log.exception("sender failed", channel=claimed.channel.id, kind=kind)
            outcome = Outcome(f"{type(exc).__name__}: {exc}")
        metrics.ATTEMPTS.labels(kind=kind).inc()
        metrics.SEND_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
        try:
            await self._settle(claimed, outcome)
        except Exception:  # a bug here must not end silently in an orphaned task
            log.exception("settling a delivery failed", delivery=claimed.message.delivery_id)

    async def _record(self, outcomes: list[tuple[Claimed, Outcome]]) -> list[Settled | None]:
        """Outcomes finished meanwhile share one transaction (one fsync on SQLite)."""
        for pause in DB_BACKOFF_S:
            try:
                return await self.queue.settle(outcomes, utcnow())
            except Exception as exc:
                log.warning("recording deliveries failed; retrying", error=str(exc))
                await asyncio.sleep(pause)
        return await self.queue.settle(outcomes, utcnow())

    async def _record_one(self, item: tuple[Claimed, Outcome]) -> Settled | None:
        return (await self._record([item]))[0]

    async def _settle(self, claimed: Claimed, outcome: Outcome) -> None:
        kind, message = claimed.channel.kind, claimed.message
        try:
            settled = await self._recorder.submit((claimed, outcome), 1)
        except Exception as exc:
            # The claim expires and a later look sends it again: at least once.
            log.error("could not record a delivery", delivery=message.delivery_id, error=str(exc))
            return
        if settled is None:
            # Its claim expired and another worker took it over, or its channel was deleted.
            log.warning("delivery no longer ours to record", delivery=message.delivery_id)
            return
        log_fields = {
            "delivery": message.delivery_id,
            "channel": claimed.channel.id,
            "kind": kind,
            "alarm_event": message.event,
            "attempt": claimed.attempts,
            "status": settled.status,
        }
        if settled.status == "sent":
            if message.event == "digest":
                metrics.DIGESTS.labels(kind=kind).inc()
                metrics.DELIVERIES.labels(kind=kind, status=metrics.SENT).inc(settled.folded)
            else:
                metrics.DELIVERIES.labels(kind=kind, status=metrics.SENT).inc()
            log.info("notification sent", folded=settled.folded, **log_fields)
            return
        dead = settled.status == "dead"
        metrics.FAILURES.labels(kind=kind, outcome=metrics.DEAD if dead else metrics.RETRY).inc()
        if dead:
            count = settled.folded if message.event == "digest" else 1
            metrics.DELIVERIES.labels(kind=kind, status=metrics.DEAD).inc(count)
        else:
            self._remember(settled.next_attempt_at)
        (log.error if dead else log.warning)(
            "notification failed", error=outcome.error, **log_fields
        )

    async def _update_gauge(self) -> None:
        if time.monotonic() - self._gauge_at >= GAUGE_EVERY_S:
            self._gauge_at = time.monotonic()
            metrics.PENDING.set(await self.queue.unsettled())

    async def _finish(self) -> None:
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=self._drain_s)
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        try:
            if released := await self.queue.release():
                log.info("unfinished deliveries handed back", count=released)
        except Exception as exc:  # their claims expire and another worker takes them
            log.warning("could not hand deliveries back", error=str(exc))
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None
