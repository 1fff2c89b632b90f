"""The ``alarm`` stage: turns scores into alarms.

Until the alarm rules land, one rule: a reading outside its sensor's limits (score 1) opens
the sensor's ``limits`` alarm, or counts on the one already open. Each alarm remembers the
newest reading it counted, in the same transaction as the count, so a replayed message —
after a crash, a retry or a claim by another worker — counts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm
from shopfloor.bus.message import Envelope
from shopfloor.detection.stages import SCORES
from shopfloor.pipeline.stage import BaseStage

LIMITS_RULE = "limits"
SCORE_THRESHOLD = 0.5


class AlarmStage(BaseStage):
    name = "alarm"
    topic = SCORES
    batch_size = 500
    batch_wait_s = 0.02

    async def handle(self, envelopes: list[Envelope]) -> None:
        breaches = [b for b in map(_breaches, envelopes) if b is not None]
        if not breaches:
            return
        for attempt in (1, 2):
            try:
                async with self.context.database.write() as session:
                    for breach in breaches:
                        await _count(session, breach, self.context.database.dialect)
                return
            except IntegrityError:
                # Another worker opened the same alarm first: count on it instead.
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
    scores = np.asarray(payload["scores"], dtype=np.float64)
    hit = scores >= SCORE_THRESHOLD
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


async def _count(session: AsyncSession, breach: Breach, dialect: str) -> None:
    query = select(Alarm).where(
        Alarm.sensor_id == breach.sensor_id, Alarm.rule == LIMITS_RULE, Alarm.state != "closed"
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    alarm = await session.scalar(query)
    if alarm is not None:
        fresh = breach.ts > alarm.last_reading_us
        if not fresh.any():
            return
        ts, values = breach.ts[fresh], breach.values[fresh]
        alarm.count += int(fresh.sum())
        alarm.last_reading_us = int(ts.max())
        alarm.last_seen_at = _moment(alarm.last_reading_us)
        alarm.value = float(values[np.argmax(ts)])
        await session.flush()
        return
    newest = int(np.argmax(breach.ts))
    session.add(
        Alarm(
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
    )
    await session.flush()
