"""What happens to alarms as time passes, without a reading arriving.

Every tick, in the process(es) running the pipeline:

* an alarm left unacknowledged past its rule's ``escalate_after_seconds`` escalates once (higher
  severity, so subscriptions with a higher minimum hear of it): ``alarm.escalated``;
* an escalated alarm still unacknowledged reminds every ``remind_every_seconds``:
  ``alarm.reminder``;
* an alarm whose condition cleared and stayed clear for ``clear_seconds`` of wall time resolves
  (readings that stop after clearing cannot hold it open);
* a resolved alarm closes after ``alarm_close_after_s``;
* a sensor silent for its no_data rule's ``intervals`` sampling intervals opens ``no_data``:
  both its newest reading is that old and nothing newer arrived for that long.

SPC alarms (no sensor; raised on a quality characteristic) take part only in closing: they have
no readings to clear them and no rule to escalate by, so a person resolves them, and once
resolved they close like any other.

Rows are changed in write transactions that lock what they change (``SKIP LOCKED`` on
PostgreSQL; SQLite serialises writers), so several processes ticking at once do each change
once. Events go to the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm
from shopfloor.alarms.publish import PendingEvent, alarm_document, offer, record_events
from shopfloor.alarms.rules import Rule
from shopfloor.alarms.shelves import ShelfMatcher
from shopfloor.alarms.stages import load_rules_and_shelves
from shopfloor.alarms.transitions import ACTIVE, moment, resolve_by_condition
from shopfloor.bus.outbox import OutboxRelay
from shopfloor.core.clock import to_epoch_us, utcnow
from shopfloor.plant.models import Sensor
from shopfloor.readings.store import ReadingStore
from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.alarms.clock")
# An event to record: its name and the alarm document.
Change = tuple[str, dict[str, Any]]
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
        # sensor → (its newest reading, when this clock first saw that reading newest): silence
        # is judged by what arrives, so a backfill of old readings or a skewed device clock
        # does not look like a silent sensor.
        self._newest: dict[int, tuple[int, int]] = {}

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
        # Look first, in a read transaction: on SQLite a write transaction every tick would
        # queue behind (and hold up) ingest and the stages for nothing.
        async with self.db.read() as session:
            rules, shelves = await load_rules_and_shelves(session)
            due = await self._anything_due(session, rules, now)
            silent = await self._silent(session, rules, shelves, now)
        by_id = {rule.id: rule for rule in rules}
        events: list[PendingEvent] = []
        if due:
            async with self.db.write() as session:
                changes = await self._escalate_and_remind(session, by_id, now)
                changes += await self._resolve_cleared(session, by_id, now)
                await self._close_resolved(session, now)
                await session.flush()
                events += await record_events(session, changes, now)
        if silent:
            try:
                async with self.db.write() as session:
                    opened = await self._open_no_data(session, silent, now)
                    events += await record_events(session, opened, now)
            except IntegrityError:
                pass  # another process opened them first
        offer(self.relay, events)
        return events

    async def _anything_due(self, session: AsyncSession, rules: list[Rule], now: datetime) -> bool:
        """Whether an escalation, reminder, resolution or closing may be due (never misses one;
        may say yes when the write pass then finds nothing)."""
        soonest = min(
            (
                min(r.params["escalate_after_seconds"], r.params["remind_every_seconds"])
                for r in rules
            ),
            default=0.0,
        )
        clear_s = min((r.params["clear_seconds"] for r in rules), default=0.0)
        remind_after = now - timedelta(seconds=soonest)
        candidates = or_(
            and_(
                Alarm.state == "open",
                Alarm.sensor_id.is_not(None),
                func.coalesce(Alarm.last_notified_at, Alarm.opened_at) <= remind_after,
            ),
            and_(
                Alarm.state.in_(ACTIVE),
                Alarm.sensor_id.is_not(None),
                Alarm.cleared_at <= now - timedelta(seconds=clear_s),
            ),
            and_(
                Alarm.state == "resolved",
                Alarm.resolved_at <= now - timedelta(seconds=self.close_after_s),
            ),
        )
        return await session.scalar(select(Alarm.id).where(candidates).limit(1)) is not None

    def _locked(self, query: Select) -> Select:
        if self.db.dialect == "postgresql":
            return query.with_for_update(skip_locked=True, of=Alarm)
        return query

    async def _escalate_and_remind(
        self, session: AsyncSession, rules: dict[int, Rule], now: datetime
    ) -> list[Change]:
        query = select(Alarm, Sensor.path).join(Sensor).where(Alarm.state == "open")
        events = []
        for alarm, path in (await session.execute(self._locked(query))).all():
            rule = rules.get(alarm.rule_id or -1)
            if rule is None:
                continue
            # Counted from when it was raised (wall time), not from its readings' time: an
            # alarm raised from late or backfilled readings gets its full time too.
            waited = (now - (alarm.last_notified_at or alarm.opened_at)).total_seconds()
            if alarm.escalation_level == 0:
                if waited >= rule.params["escalate_after_seconds"]:
                    alarm.escalation_level = 1
                    alarm.escalated_at = now
                    alarm.last_notified_at = now
                    alarm.severity = rule.escalated_severity
                    events.append(("alarm.escalated", alarm_document(alarm, path)))
                continue
            if waited >= rule.params["remind_every_seconds"]:
                alarm.last_notified_at = now
                events.append(("alarm.reminder", alarm_document(alarm, path)))
        return events

    async def _resolve_cleared(
        self, session: AsyncSession, rules: dict[int, Rule], now: datetime
    ) -> list[Change]:
        query = (
            select(Alarm, Sensor.path)
            .join(Sensor)
            .where(Alarm.state.in_(ACTIVE), Alarm.cleared_at.is_not(None))
        )
        events = []
        for alarm, path in (await session.execute(self._locked(query))).all():
            rule = rules.get(alarm.rule_id or -1)
            clear_s = rule.params["clear_seconds"] if rule else 0.0
            if alarm.cleared_at is not None and (now - alarm.cleared_at).total_seconds() >= clear_s:
                resolve_by_condition(alarm, now)
                events.append(("alarm.resolved", alarm_document(alarm, path)))
        return events

    async def _close_resolved(self, session: AsyncSession, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.close_after_s)
        query = select(Alarm).where(Alarm.state == "resolved", Alarm.resolved_at <= cutoff)
        for alarm in await session.scalars(self._locked(query)):
            alarm.state = "closed"
            alarm.closed_at = now

    async def _silent(
        self,
        session: AsyncSession,
        rules: list[Rule],
        shelves: ShelfMatcher,
        now: datetime,
    ) -> list[tuple[int, str, Rule, int]]:
        """(sensor id, path, rule, last reading) of the sensors a no_data rule finds silent."""
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
        taken = await _taken(session)
        now_us = to_epoch_us(now)
        silent = []
        for sensor_id, path, interval in sensors:
            last_us = latest.get(sensor_id)
            if last_us is None or shelves.covering(path, now) is not None:
                continue  # never reported yet, or shelved
            seen_newest, since_us = self._newest.get(sensor_id, (None, now_us))
            if seen_newest != last_us:
                self._newest[sensor_id] = (last_us, now_us)
                since_us = now_us
            for rule in watching:
                silent_us = int(float(rule.params.get("intervals", 5)) * interval * US)
                if not rule.covers(path) or (sensor_id, rule.name) in taken:
                    continue
                if now_us - last_us >= silent_us and now_us - since_us >= silent_us:
                    silent.append((sensor_id, path, rule, last_us))
        return silent

    async def _open_no_data(
        self, session: AsyncSession, silent: list[tuple[int, str, Rule, int]], now: datetime
    ) -> list[Change]:
        taken = await _taken(session)  # again, inside the write: another process may have
        events = []
        for sensor_id, path, rule, last_us in silent:
            if (sensor_id, rule.name) in taken:
                continue
            alarm = _no_data_alarm(rule, sensor_id, last_us, now)
            session.add(alarm)
            await session.flush()
            events.append(("alarm.opened", alarm_document(alarm, path)))
        return events


async def _taken(session: AsyncSession) -> set[tuple[int, str]]:
    """(sensor, rule) pairs that have an alarm not closed."""
    rows = await session.execute(
        select(Alarm.sensor_id, Alarm.rule).where(
            Alarm.state != "closed", Alarm.sensor_id.is_not(None)
        )
    )
    return {(int(sid), str(rule)) for sid, rule in rows.all()}


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
        last_notified_at=now,
        last_reading_us=last_us,
        escalation_level=0,
    )
