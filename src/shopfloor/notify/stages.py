"""The ``notify`` stage: turns alarm events into deliveries, then wakes the delivery worker.

For each event it finds the subscriptions it reaches (enabled channel, scope covering the
alarm's path, severity at least the minimum, the event asked for — a reminder counts as
``alarm.opened`` — and quiet hours) and inserts one delivery per channel, all of a batch in one
transaction. The unique (event id, channel) key makes a replayed event create nothing twice.
Sending is the worker's job, so a slow receiver never holds the bus up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from shopfloor.alarms.events import ALARM_EVENTS
from shopfloor.bus.message import Envelope
from shopfloor.core.clock import utcnow
from shopfloor.notify import metrics
from shopfloor.notify.matching import Rule, SubscriptionCache, plan
from shopfloor.notify.models import PENDING, SKIPPED, Delivery
from shopfloor.pipeline.stage import BaseStage, StageContext

log = structlog.get_logger("shopfloor.notify")

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
INSERT_CHUNK = 500


class NotifyStage(BaseStage):
    name = "notify"
    topic = ALARM_EVENTS
    batch_size = 500
    batch_wait_s = 0.01

    def __init__(
        self,
        wake: Callable[[], None] | None = None,
        *,
        cache_ttl_s: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``wake`` is called after new deliveries are committed (``DeliveryWorker.wake``);
        ``clock`` is the time quiet hours are judged by."""
        self.wake = wake
        self.cache_ttl_s = cache_ttl_s
        self.clock = clock
        self._cache: SubscriptionCache | None = None

    async def start(self, context: StageContext) -> None:
        await super().start(context)
        self._cache = SubscriptionCache(context.database, self.cache_ttl_s)

    async def handle(self, envelopes: list[Envelope]) -> None:
        assert self._cache is not None
        try:
            planned, inserted = await self._plan_and_insert(envelopes)
        except IntegrityError:
            # A channel or subscription was deleted since the rules were read: read them again.
            self._cache.invalidate()
            planned, inserted = await self._plan_and_insert(envelopes)
        fresh = [(kind, row) for kind, row in planned if _key(row) in inserted]
        if self.wake is not None and any(row["status"] == PENDING for _, row in fresh):
            self.wake()
        for kind, row in fresh:
            if row["status"] == SKIPPED:
                metrics.DELIVERIES.labels(kind=kind, status=metrics.SKIPPED).inc()
                log.info(
                    "notification skipped",
                    channel=row["channel_id"],
                    alarm_event=row["event"],
                    alarm=row["alarm_id"],
                    reason=row["last_error"],
                )

    async def _plan_and_insert(
        self, envelopes: list[Envelope]
    ) -> tuple[list[tuple[str, dict[str, Any]]], set[tuple[str, int]]]:
        assert self._cache is not None
        rules = await self._cache.rules()
        local_time, now = self.clock(), utcnow()
        planned = {
            _key(row): (kind, row)
            for envelope in envelopes
            for kind, row in _rows(envelope, rules, local_time, now)
        }  # an envelope delivered twice within one batch counts once
        if not planned:
            return [], set()
        return list(planned.values()), await self._insert([row for _, row in planned.values()])

    async def _insert(self, rows: list[dict[str, Any]]) -> set[tuple[str, int]]:
        """Insert what is new; returns the (event id, channel id) of each row inserted."""
        database = self.context.database
        insert = INSERTS[database.dialect]
        inserted: set[tuple[str, int]] = set()
        async with database.write() as session:
            for start in range(0, len(rows), INSERT_CHUNK):
                statement = (
                    insert(Delivery)
                    .values(rows[start : start + INSERT_CHUNK])
                    .on_conflict_do_nothing(index_elements=["event_id", "channel_id"])
                    .returning(Delivery.event_id, Delivery.channel_id)
                )
                inserted.update(
                    (event_id, channel_id)
                    for event_id, channel_id in await session.execute(statement)
                )
        return inserted


def _key(row: dict[str, Any]) -> tuple[str, int]:
    return row["event_id"], row["channel_id"]


def _rows(
    envelope: Envelope, rules: list[Rule], local_time: datetime, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """The deliveries an event makes, each with its channel's kind."""
    payload = envelope.payload
    event, alarm = payload["event"], payload["alarm"]
    if not isinstance(alarm, dict) or "path" not in alarm or "severity" not in alarm:
        raise ValueError(f"alarm event {envelope.id} has no alarm with a path and a severity")
    alarm_id = alarm.get("id")
    return [
        (
            planned.channel_kind,
            {
                "channel_id": planned.channel_id,
                "subscription_id": planned.subscription_id,
                "event_id": envelope.id,
                "event": event,
                "alarm_id": alarm_id if isinstance(alarm_id, int) else None,
                "path": alarm["path"],
                "severity": alarm["severity"],
                "status": SKIPPED if planned.skipped else PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": planned.skipped,
                "created_at": now,
                "payload": {"event": event, "alarm": alarm, "at": payload.get("at")},
            },
        )
        for planned in plan(event, alarm, rules, local_time)
    ]
