"""What happens to alarms as time passes, without a reading arriving.

Every tick, in the process(es) running the pipeline:

* an alarm left unacknowledged past its rule's ``escalate_after_seconds`` escalates once (higher
  severity, so subscriptions with a higher minimum hear of it): ``alarm.escalated``;
* an unacknowledged alarm reminds every ``remind_every_seconds``: ``alarm.reminder``;
* an alarm whose condition cleared and stayed clear for ``clear_seconds`` of wall time resolves
  (readings that stop after clearing cannot hold it open);
* a resolved alarm closes after ``alarm_close_after_s``;
* a sensor silent for its no_data rule's ``intervals`` sampling intervals opens ``no_data``.

Rows are changed in write transactions that lock what they change (``SKIP LOCKED`` on
PostgreSQL; SQLite serialises writers), so several processes ticking at once do each change
once. Events go to the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm
from shopfloor.alarms.publish import PendingEvent, alarm_document, offer, record_event
from shopfloor.alarms.rules import Rule
from shopfloor.alarms.shelves import ShelfMatcher
from shopfloor.alarms.stages import load_rules_and_shelves
from shopfloor.alarms.transitions import moment, resolve_by_condition
from shopfloor.bus.outbox import OutboxRelay
from shopfloor.core.clock import to_epoch_us, utcnow
from shopfloor.plant.models import Sensor
from shopfloor.readings.store import ReadingStore
from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.alarms.clock")
US = 1_000_000


class AlarmClock:
    def __init__(
        self,
        db: Database,
        store: ReadingStore,
        relay: OutboxRelay | None,
        *,
        tick_s: float = 1.0,
        close_after_s: float = 3600.0,
    ) -> None:
        self.db = db
        self.store = store
        self.relay = relay
        self.tick_s = tick_s
        self.close_after_s = close_after_s

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the database is away: the next tick tries again
                log.warning("alarm clock tick failed", error=str(exc))
            await asyncio.sleep(self.tick_s)

    async def tick(self, now: datetime | None = None) -> list[PendingEvent]:
        """One pass of every timed change; returns the events it published."""
        now = now or utcnow()
        async with self.db.read() as session:
            rules, shelves = await load_rules_and_shelves(session)
        by_id = {rule.id: rule for rule in rules}
        events: list[PendingEvent] = []
        async with self.db.write() as session:
            events += await self._escalate_and_remind(session, by_id, now)
            events += await self._resolve_cleared(session, by_id, now)
            await self._close_resolved(session, now)
        try:
            async with self.db.write() as session:
                events += await self._open_no_data(session, rules, shelves, now)
        except IntegrityError:
            pass  # another process opened them first
        offer(self.relay, events)
        return events

    def _locked(self, query: Select) -> Select:
        if self.db.dialect == "postgresql":
            return query.with_for_update(skip_locked=True, of=Alarm)
        return query

    async def _escalate_and_remind(
        self, session: AsyncSession, rules: dict[int, Rule], now: datetime
    ) -> list[PendingEvent]:
        query = select(Alarm, Sensor.path).join(Sensor).where(Alarm.state == "open")
        events = []
        for alarm, path in (await session.execute(self._locked(query))).all():
            rule = rules.get(alarm.rule_id or -1)
            if rule is None:
                continue
            since_open = (now - alarm.opened_at).total_seconds()
            if alarm.escalation_level == 0 and since_open >= rule.params["escalate_after_seconds"]:
                alarm.escalation_level = 1
                alarm.escalated_at = now
                alarm.last_notified_at = now
                alarm.severity = rule.escalated_severity
                events.append(await _event(session, "alarm.escalated", alarm, path, now))
                continue
            last = alarm.last_notified_at or alarm.opened_at
            if (now - last).total_seconds() >= rule.params["remind_every_seconds"]:
                alarm.last_notified_at = now
                events.append(await _event(session, "alarm.reminder", alarm, path, now))
        return events

    async def _resolve_cleared(
        self, session: AsyncSession, rules: dict[int, Rule], now: datetime
    ) -> list[PendingEvent]:
        query = (
            select(Alarm, Sensor.path)
            .join(Sensor)
            .where(Alarm.state.in_(("open", "acknowledged")), Alarm.cleared_at.is_not(None))
        )
        events = []
        for alarm, path in (await session.execute(self._locked(query))).all():
            rule = rules.get(alarm.rule_id or -1)
            clear_s = rule.params["clear_seconds"] if rule else 0.0
            if alarm.cleared_at is not None and (now - alarm.cleared_at).total_seconds() >= clear_s:
                resolve_by_condition(alarm, now)
                events.append(await _event(session, "alarm.resolved", alarm, path, now))
        return events

    async def _close_resolved(self, session: AsyncSession, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.close_after_s)
        query = select(Alarm).where(Alarm.state == "resolved", Alarm.resolved_at <= cutoff)
        for alarm in await session.scalars(self._locked(query)):
            alarm.state = "closed"
            alarm.closed_at = now

    async def _open_no_data(
        self,
        session: AsyncSession,
        rules: list[Rule],
        shelves: ShelfMatcher,
        now: datetime,
    ) -> list[PendingEvent]:
        watching = [rule for rule in rules if rule.kind == "no_data"]
        if not watching:
            return []
        sensors = (
            await session.execute(
                select(Sensor.id, Sensor.path, Sensor.sampling_interval_s).where(
                    Sensor.sampling_interval_s.is_not(None)
                )
            )
        ).all()
        if not sensors:
            return []
        latest = {
            sid: ts for sid, ts, _ in await self.store.latest(session, [s[0] for s in sensors])
        }
        taken = set(
            (
                await session.execute(
                    select(Alarm.sensor_id, Alarm.rule).where(Alarm.state != "closed")
                )
            ).all()
        )
        now_us = to_epoch_us(now)
        events = []
        for sensor_id, path, interval in sensors:
            last_us = latest.get(sensor_id)
            if last_us is None or shelves.covering(path, now) is not None:
                continue  # never reported yet, or shelved
            for rule in watching:
                silent_us = int(float(rule.params.get("intervals", 5)) * interval * US)
                if not rule.covers(path) or (sensor_id, rule.name) in taken:
                    continue
                if now_us - last_us < silent_us:
                    continue
                alarm = _no_data_alarm(rule, sensor_id, last_us, now)
                session.add(alarm)
                await session.flush()
                events.append(await _event(session, "alarm.opened", alarm, path, now))
        return events


def _no_data_alarm(rule: Rule, sensor_id: int, last_us: int, now: datetime) -> Alarm:
    silent_s = (now - moment(last_us)).total_seconds()
    return Alarm(
        sensor_id=sensor_id,
        rule=rule.name,
        rule_id=rule.id,
        kind="no_data",
        severity=rule.severity,
        state="open",
        message=f"no readings for {silent_s:.0f} s",
        count=1,
        opened_at=now,
        last_seen_at=now,
        last_reading_us=last_us,
        escalation_level=0,
    )


async def _event(
    session: AsyncSession, event: str, alarm: Alarm, path: str, now: datetime
) -> PendingEvent:
    return await record_event(session, event, alarm_document(alarm, path), now)
