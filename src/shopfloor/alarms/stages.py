"""The ``alarm`` stage: turns scores into alarms.

Until the alarm rules land, one rule: a reading outside its sensor's limits (a breach) opens
the sensor's ``limits`` alarm, or counts on the one already open. The ids of the messages it
counted are recorded in the same transaction as the counts, so a replayed message — after a
crash, a retry or a claim by another worker — counts nothing twice, in whatever order
messages arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm, ProcessedMessage
from shopfloor.bus.message import Envelope
from shopfloor.detection.stages import SCORES
from shopfloor.pipeline.stage import BaseStage

LIMITS_RULE = "limits"
BREACH = 1.0


class AlarmStage(BaseStage):
    name = "alarm"
    topic = SCORES
    batch_size = 500
    batch_wait_s = 0.02

    async def handle(self, envelopes: list[Envelope]) -> None:
        breaches = {e.id: b for e in envelopes if (b := _breaches(e)) is not None}
        if not breaches:
            return
        for attempt in (1, 2):
            try:
                async with self.context.database.write() as session:
                    fresh = await _claim_messages(session, self.name, list(breaches))
                    merged = _merge_by_sensor([breaches[message_id] for message_id in fresh])
                    await _count_all(session, merged, self.context.database.dialect)
                return
            except IntegrityError:
                # Another worker opened the same alarm, or handled the same message, first:
                # the second attempt sees its work and builds on it.
                if attempt == 2:
                    raise


@dataclass(frozen=True, slots=True)
class Breach:
    """The readings of one scores message that cross the threshold."""

    sensor_id: int
    ts: np.ndarray
    values: np.ndarray
    scores: np.ndarray


def _breaches(envelope: Envelope) -> Breach | None:
    payload = envelope.payload
    breaches = np.asarray(payload["breaches"], dtype=np.float64)
    scores = np.asarray(payload["scores"], dtype=np.float64)
    hit = breaches >= BREACH
    if not hit.any():
        return None
    return Breach(
        int(payload["sensor_id"]),
        np.asarray(payload["ts"], dtype=np.int64)[hit],
        np.asarray(payload["values"], dtype=np.float64)[hit],
        scores[hit],
    )


def _moment(epoch_us: int) -> datetime:
    return datetime.fromtimestamp(epoch_us / 1_000_000, UTC)


async def _claim_messages(session: AsyncSession, stage: str, ids: list[str]) -> list[str]:
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


def _merge_by_sensor(breaches: list[Breach]) -> list[Breach]:
    """One breach per sensor: a batch's messages for a sensor count as one update."""
    by_sensor: dict[int, list[Breach]] = {}
    for breach in breaches:
        by_sensor.setdefault(breach.sensor_id, []).append(breach)
    return [
        Breach(
            sensor_id,
            np.concatenate([b.ts for b in group]),
            np.concatenate([b.values for b in group]),
            np.concatenate([b.scores for b in group]),
        )
        for sensor_id, group in sorted(by_sensor.items())
    ]


async def _count_all(session: AsyncSession, breaches: list[Breach], dialect: str) -> None:
    """Count every breach on its sensor's open alarm, opening the alarms that are missing.

    One query finds (and on PostgreSQL locks, in sensor order) the open alarms of the batch.
    """
    if not breaches:
        return
    query = (
        select(Alarm)
        .where(
            Alarm.sensor_id.in_([b.sensor_id for b in breaches]),
            Alarm.rule == LIMITS_RULE,
            Alarm.state != "closed",
        )
        .order_by(Alarm.sensor_id)
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    open_alarms = {alarm.sensor_id: alarm for alarm in await session.scalars(query)}
    for breach in breaches:
        alarm = open_alarms.get(breach.sensor_id)
        if alarm is None:
            session.add(_opened(breach))
        else:
            _count_on(alarm, breach)
    await session.flush()


def _count_on(alarm: Alarm, breach: Breach) -> None:
    alarm.count += len(breach.ts)
    newest = int(np.argmax(breach.ts))
    if int(breach.ts[newest]) > alarm.last_reading_us:
        alarm.last_reading_us = int(breach.ts[newest])
        alarm.last_seen_at = _moment(alarm.last_reading_us)
        alarm.value = float(breach.values[newest])
        alarm.score = float(breach.scores[newest])


def _opened(breach: Breach) -> Alarm:
    newest = int(np.argmax(breach.ts))
    return Alarm(
        sensor_id=breach.sensor_id,
        rule=LIMITS_RULE,
        kind="threshold",
        severity="warning",
        state="open",
        message="reading outside the sensor's limits",
        value=float(breach.values[newest]),
        score=float(breach.scores[newest]),
        count=len(breach.ts),
        opened_at=_moment(int(breach.ts.min())),
        last_seen_at=_moment(int(breach.ts[newest])),
        last_reading_us=int(breach.ts[newest]),
    )
