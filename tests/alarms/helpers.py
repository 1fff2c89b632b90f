"""Helpers of the alarm API tests: alarms written straight to the database, events read back."""

from __future__ import annotations

import itertools
import time
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from shopfloor.alarms.events import ALARM_EVENTS
from shopfloor.alarms.models import Alarm
from shopfloor.core.clock import to_epoch_us, utcnow

MACHINE = "acme/press-line/press-1"
OIL = f"{MACHINE}/oil-temp"
VIBRATION = f"{MACHINE}/vibration"
_rules = itertools.count(1)


async def insert_alarm(
    app: FastAPI,
    sensor_id: int,
    *,
    state: str = "open",
    severity: str = "warning",
    rule: str | None = None,
    kind: str = "threshold",
    rule_id: int | None = None,
) -> int:
    """An alarm as the stage would open it; each gets its own rule name unless one is given
    (at most one alarm per sensor and rule may be other than closed)."""
    now = utcnow()
    async with app.state.db.write() as session:
        alarm = Alarm(
            sensor_id=sensor_id,
            rule=rule or f"rule-{next(_rules)}",
            rule_id=rule_id,
            kind=kind,
            severity=severity,
            state=state,
            message="reading outside its limits",
            value=123.5,
            score=0.9,
            count=1,
            opened_at=now,
            last_seen_at=now,
            last_reading_us=to_epoch_us(now),
            escalation_level=0,
            closed_at=now if state == "closed" else None,
        )
        session.add(alarm)
        await session.flush()
        return alarm.id


async def alarm_row(app: FastAPI, alarm_id: int) -> Alarm | None:
    async with app.state.db.read() as session:
        return await session.scalar(select(Alarm).where(Alarm.id == alarm_id))


async def alarm_events(app: FastAPI, want: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Payloads published on ``alarm.events``, waiting until ``want`` have arrived (or the
    timeout, after which the test's assertion on the count reports what came)."""
    bus = app.state.pipeline.bus
    payloads: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(payloads) < want and time.monotonic() < deadline:
        deliveries = await bus.consume(ALARM_EVENTS, "test", "t", count=10, block_s=0.5)
        payloads += [delivery.envelope.payload for delivery in deliveries]
        await bus.ack(ALARM_EVENTS, "test", [delivery.receipt for delivery in deliveries])
    return payloads
