"""The ``alarm`` stage: evaluates the alarm rules on every scored reading.

Per batch, for every sensor and every enabled rule covering its path, the readings (in time
order) open an alarm (once the condition held for the rule's ``for_seconds``; not while the
sensor is shelved), count on the alarm already open, or, once the condition has stayed clear
for the rule's ``clear_seconds`` of reading time, resolve it (resolution "condition"). A
resolved alarm whose condition returns is closed and a new one opens.

The ids of the messages handled are recorded in the same transaction as their effects, so a
replayed message (after a crash, a retry, or a claim by another worker) changes nothing, in
whatever order messages arrive. The unique index on (sensor, rule) of alarms not closed makes
concurrent workers converge on one alarm: the loser's transaction fails and is redone, seeing
the winner's alarm. Events (opened, resolved) go to the outbox in the same transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm, AlarmRule, ProcessedMessage
from shopfloor.alarms.publish import PendingEvent, alarm_document, offer, record_events
from shopfloor.alarms.rules import Rule, SensorFacts, SensorMemory, evaluate
from shopfloor.alarms.shelves import ShelfMatcher, active_shelves, count_suppressed
from shopfloor.alarms.transitions import Outcome, apply_readings
from shopfloor.bus.message import Envelope
from shopfloor.core.clock import utcnow
from shopfloor.detection.stages import SCORES
from shopfloor.pipeline.stage import BaseStage
from shopfloor.plant.models import Sensor
from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.alarms")
RULES_TTL_S = 5.0
SENSOR_TTL_S = 10.0


class UnknownSensor(Exception):
    """Scores of a sensor that does not exist (deleted, or a message from elsewhere)."""


@dataclass(frozen=True, slots=True)
class SensorReadings:
    """A batch's readings of one sensor, merged over its messages, in time order."""

    sensor_id: int
    ts: np.ndarray
    values: np.ndarray
    scores: np.ndarray


class AlarmStage(BaseStage):
    name = "alarm"
    topic = SCORES
    batch_size = 500
    batch_wait_s = 0.02

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._shelves = ShelfMatcher(())
        self._rules_read_at = -1e9
        self._sensors: dict[int, tuple[SensorFacts, float]] = {}
        self._memory: dict[int, SensorMemory] = {}

    async def handle(self, envelopes: list[Envelope]) -> None:
        batch = {e.id: e for e in envelopes}
        await self._refresh(envelopes)
        for attempt in (1, 2):
            try:
                async with self.context.database.write() as session:
                    fresh = await claim_messages(session, self.name, list(batch))
                    merged = _merge_by_sensor([batch[message_id] for message_id in fresh])
                    events, memory = await self._apply(session, merged)
                offer(self.context.relay, events)
                self._memory.update(memory)
                return
            except IntegrityError:
                # Another worker opened the same alarm, or handled the same message, first:
                # the second attempt sees its work and builds on it.
                if attempt == 2:
                    raise

    async def _apply(
        self, session: AsyncSession, merged: list[SensorReadings]
    ) -> tuple[list[PendingEvent], dict[int, SensorMemory]]:
        if not merged:
            return [], {}
        existing = await _alarms_not_closed(
            session, [m.sensor_id for m in merged], self.context.database.dialect
        )
        now = utcnow()
        outcomes: list[tuple[SensorFacts, Outcome]] = []
        memories: dict[int, SensorMemory] = {}
        suppressed: dict[int, int] = {}
        for readings in merged:
            facts = self._sensors.get(readings.sensor_id, (None, 0.0))[0]
            if facts is None:
                # Fails the batch, then this message alone, then dead-letters it with the reason.
                raise UnknownSensor(f"unknown sensor {readings.sensor_id}")
            memory = _copy(self._memory.get(readings.sensor_id))
            shelf = self._shelves.covering(facts.path, now)
            for rule in self._rules:
                if not rule.covers(facts.path):
                    continue
                conditions = evaluate(
                    rule, facts, readings.ts, readings.values, readings.scores, memory
                )
                outcome = apply_readings(
                    rule,
                    facts,
                    readings.ts,
                    readings.values,
                    readings.scores,
                    conditions,
                    existing.get((readings.sensor_id, rule.name)),
                    memory,
                    shelved=shelf is not None,
                    now=now,
                )
                if outcome.suppressed and shelf is not None:
                    suppressed[shelf.id] = suppressed.get(shelf.id, 0) + outcome.suppressed
                for alarm in outcome.added:
                    session.add(alarm)
                outcomes.append((facts, outcome))
            memory.last_ts_us = int(readings.ts[-1])
            memory.last_value = float(readings.values[-1])
            memories[readings.sensor_id] = memory
        await session.flush()
        for shelf_id, count in suppressed.items():
            await count_suppressed(session, shelf_id, count)
        events = await record_events(
            session,
            [
                (event, alarm_document(alarm, facts.path))
                for facts, outcome in outcomes
                for event, alarm in outcome.events
            ],
        )
        return events, memories

    async def _refresh(self, envelopes: list[Envelope]) -> None:
        now = time.monotonic()
        wanted = {int(e.payload["sensor_id"]) for e in envelopes}
        stale = [s for s in wanted if now - self._sensors.get(s, (None, -1e9))[1] > SENSOR_TTL_S]
        if not stale and now - self._rules_read_at < RULES_TTL_S:
            return
        async with self.context.database.read() as session:
            if now - self._rules_read_at >= RULES_TTL_S:
                self._rules, self._shelves = await load_rules_and_shelves(session)
                self._rules_read_at = now
            if stale:
                for facts in await load_sensor_facts(session, stale):
                    self._sensors[facts.id] = (facts, now)


async def load_rules_and_shelves(session: AsyncSession) -> tuple[list[Rule], ShelfMatcher]:
    """The enabled rules (one that no longer validates is skipped, loudly) and the shelves."""
    rules = []
    for row in await session.scalars(select(AlarmRule).where(AlarmRule.enabled.is_(True))):
        try:
            rules.append(Rule.of(row))
        except ValueError as exc:  # pydantic's ValidationError included
            log.error("alarm rule skipped: invalid parameters", rule=row.name, error=str(exc))
    rules.sort(key=lambda r: r.id)
    return rules, ShelfMatcher(await active_shelves(session))


class RulesAndShelves:
    """The enabled rules and the shelves, read again once they are ``ttl_s`` old: stages that
    judge many messages read them a few times a minute, not once a batch."""

    def __init__(self, ttl_s: float = RULES_TTL_S) -> None:
        self.ttl_s = ttl_s
        self.rules: list[Rule] = []
        self.shelves = ShelfMatcher(())
        self._read_at = -1e9

    async def refresh(self, database: Database) -> None:
        now = time.monotonic()
        if now - self._read_at < self.ttl_s:
            return
        async with database.read() as session:
            self.rules, self.shelves = await load_rules_and_shelves(session)
        self._read_at = now


async def load_sensor_facts(session: AsyncSession, ids: list[int]) -> list[SensorFacts]:
    rows = await session.execute(
        select(
            Sensor.id, Sensor.path, Sensor.low_limit, Sensor.high_limit, Sensor.sampling_interval_s
        ).where(Sensor.id.in_(ids))
    )
    return [SensorFacts(*row) for row in rows.all()]


def _copy(memory: SensorMemory | None) -> SensorMemory:
    if memory is None:
        return SensorMemory()
    return SensorMemory(memory.last_ts_us, memory.last_value, dict(memory.pending_since_us))


async def _alarms_not_closed(
    session: AsyncSession, sensor_ids: list[int], dialect: str
) -> dict[tuple[int, str], Alarm]:
    """The batch's alarms not closed, by (sensor, rule); locked in sensor order on PostgreSQL."""
    query = (
        select(Alarm)
        .where(Alarm.sensor_id.in_(sensor_ids), Alarm.state != "closed")
        .order_by(Alarm.sensor_id, Alarm.id)
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    return {(a.sensor_id, a.rule): a for a in await session.scalars(query)}


async def claim_messages(session: AsyncSession, stage: str, ids: list[str]) -> list[str]:
    """The ids not handled before, now recorded as handled (in the caller's transaction)."""
    seen = set(
        await session.scalars(
            select(ProcessedMessage.message_id).where(
                ProcessedMessage.stage == stage, ProcessedMessage.message_id.in_(ids)
            )
        )
    )
    fresh = [message_id for message_id in ids if message_id not in seen]
    now = datetime.now(UTC)
    session.add_all(
        ProcessedMessage(stage=stage, message_id=message_id, processed_at=now)
        for message_id in fresh
    )
    await session.flush()
    return fresh


def _merge_by_sensor(envelopes: list[Envelope]) -> list[SensorReadings]:
    """One time-ordered series per sensor: a batch's messages for a sensor count as one."""
    parts: dict[int, list[dict]] = {}
    for envelope in envelopes:
        parts.setdefault(int(envelope.payload["sensor_id"]), []).append(envelope.payload)
    merged = []
    for sensor_id, payloads in sorted(parts.items()):
        ts = np.concatenate([np.asarray(p["ts"], dtype=np.int64) for p in payloads])
        values = np.concatenate([np.asarray(p["values"], dtype=np.float64) for p in payloads])
        scores = np.concatenate(
            [
                np.asarray(p.get("scores") or [0.0] * len(p["ts"]), dtype=np.float64)
                for p in payloads
            ]
        )
        order = np.argsort(ts, kind="stable")
        merged.append(SensorReadings(sensor_id, ts[order], values[order], scores[order]))
    return merged


def _scores(payload: dict) -> np.ndarray:
    scores = payload.get("scores")
    if scores is None:
        return np.zeros(len(payload["ts"]))
    return np.asarray(scores, dtype=np.float64)
