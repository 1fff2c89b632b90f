"""What a sensor's readings do to the alarm of one rule: open, count, clear, resolve, reopen.

Pure bookkeeping on ORM objects, no I/O: the stage loads the alarm, calls ``apply_readings``,
adds the new alarms to its session and records the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from shopfloor.alarms.models import Alarm
from shopfloor.alarms.rules import Conditions, Rule, SensorFacts, SensorMemory, threshold_limits

ACTIVE = ("open", "acknowledged")


@dataclass
class Outcome:
    added: list[Alarm] = field(default_factory=list)
    events: list[tuple[str, Alarm]] = field(default_factory=list)
    suppressed: int = 0  # occurrences not raised because the sensor is shelved


def moment(epoch_us: int) -> datetime:
    return datetime.fromtimestamp(epoch_us / 1_000_000, UTC)


def apply_readings(
    rule: Rule,
    sensor: SensorFacts,
    ts: np.ndarray,
    values: np.ndarray,
    scores: np.ndarray,
    conditions: Conditions,
    alarm: Alarm | None,
    memory: SensorMemory,
    *,
    shelved: bool,
    now: datetime,
) -> Outcome:
    """Walk the readings in time order; ``memory`` keeps a condition pending for ``for_seconds``."""
    outcome = Outcome()
    pending = memory.pending_since_us.get(rule.name)
    live = alarm is not None and alarm.state in ACTIVE
    if not conditions.active.any() and not live and pending is None:
        return outcome  # the common case: nothing happening, nothing open
    for_us, clear_us = rule.for_us, rule.clear_us
    tally = _Tally(alarm) if alarm is not None and live else None
    rows = np.flatnonzero(conditions.active | conditions.clear)
    for t, active, value, score in zip(
        ts[rows].tolist(),
        conditions.active[rows].tolist(),
        values[rows].tolist(),
        scores[rows].tolist(),
        strict=True,
    ):
        if active:
            if tally is not None:
                tally.count(t, value, score)
                continue
            pending = t if pending is None else pending
            if t - pending < for_us:
                continue
            pending = None
            if shelved:
                outcome.suppressed += 1
                continue
            if alarm is not None:  # resolved: that episode is over, this is a new one
                alarm.state = "closed"
                alarm.closed_at = now
            alarm = _opened(rule, sensor, t, value, score, now)
            outcome.added.append(alarm)
            outcome.events.append(("alarm.opened", alarm))
            tally = _Tally(alarm)
        else:
            pending = None
            if tally is None or t < tally.last_t:
                continue
            if tally.cleared_t is None:
                tally.cleared_t = t
            if t - tally.cleared_t >= clear_us:
                tally.write(now)
                resolve_by_condition(tally.alarm, now)
                outcome.events.append(("alarm.resolved", tally.alarm))
                tally = None
    if tally is not None:
        tally.write(now)
    if pending is None:
        memory.pending_since_us.pop(rule.name, None)
    else:
        memory.pending_since_us[rule.name] = pending
    return outcome


def resolve_by_condition(alarm: Alarm, now: datetime) -> None:
    alarm.state = "resolved"
    alarm.resolved_at = now
    alarm.resolved_by = None
    alarm.resolution = "condition"


class _Tally:
    """What readings do to a live alarm, kept in plain locals and written to it once: setting
    ORM attributes reading by reading costs more than the rest of the evaluation."""

    def __init__(self, alarm: Alarm) -> None:
        self.alarm = alarm
        self.added = 0
        self.last_t = alarm.last_reading_us
        self.last: tuple[float, float] | None = None
        self.cleared_t = alarm.cleared_reading_us

    def count(self, t: int, value: float, score: float) -> None:
        self.added += 1
        self.cleared_t = None
        if t > self.last_t:
            self.last_t = t
            self.last = (value, score)

    def write(self, now: datetime) -> None:
        alarm = self.alarm
        if self.added:
            alarm.count += self.added
        if self.last is not None:
            alarm.last_reading_us = self.last_t
            alarm.last_seen_at = moment(self.last_t)
            alarm.value, alarm.score = self.last
        if self.cleared_t != alarm.cleared_reading_us:
            alarm.cleared_reading_us = self.cleared_t
            alarm.cleared_at = None if self.cleared_t is None else now


def _opened(
    rule: Rule, sensor: SensorFacts, t: int, value: float, score: float, now: datetime
) -> Alarm:
    return Alarm(
        sensor_id=sensor.id,
        rule=rule.name,
        rule_id=rule.id,
        kind=rule.kind,
        severity=rule.severity,
        state="open",
        message=describe(rule, sensor, value, score),
        value=value,
        score=score,
        count=1,
        opened_at=moment(t),
        last_seen_at=moment(t),
        last_reading_us=t,
        last_notified_at=now,  # raised now: escalation and reminders count from here
        escalation_level=0,
    )


def describe(rule: Rule, sensor: SensorFacts, value: float, score: float) -> str:
    """A message a person reads at a glance."""
    if rule.kind == "threshold":
        low, high, _ = threshold_limits(rule, sensor)
        side = f"above {high:g}" if value > high else f"below {low:g}"
        return f"{value:g} is {side}"
    if rule.kind == "anomaly":
        return f"anomalous reading {value:g} (score {score:.2f})"
    if rule.kind == "rate_of_change":
        return f"changing faster than {float(rule.params['max_per_second']):g} per second"
    return rule.message
