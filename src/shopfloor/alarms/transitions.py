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
    for i in np.flatnonzero(conditions.active | conditions.clear):
        t = int(ts[i])
        if conditions.active[i]:
            if alarm is not None and alarm.state in ACTIVE:
                _count_on(alarm, t, float(values[i]), float(scores[i]))
                continue
            pending = t if pending is None else pending
            if t - pending < rule.for_us:
                continue
            pending = None
            if shelved:
                outcome.suppressed += 1
                continue
            if alarm is not None:  # resolved: that episode is over, this is a new one
                alarm.state = "closed"
                alarm.closed_at = now
            alarm = _opened(rule, sensor, t, float(values[i]), float(scores[i]), now)
            outcome.added.append(alarm)
            outcome.events.append(("alarm.opened", alarm))
        else:
            pending = None
            if alarm is None or alarm.state not in ACTIVE or t < alarm.last_reading_us:
                continue
            if alarm.cleared_reading_us is None:
                alarm.cleared_reading_us = t
                alarm.cleared_at = now
            if t - alarm.cleared_reading_us >= rule.clear_us:
                resolve_by_condition(alarm, now)
                outcome.events.append(("alarm.resolved", alarm))
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


def _count_on(alarm: Alarm, t: int, value: float, score: float) -> None:
    alarm.count += 1
    alarm.cleared_at = None
    alarm.cleared_reading_us = None
    if t > alarm.last_reading_us:
        alarm.last_reading_us = t
        alarm.last_seen_at = moment(t)
        alarm.value = value
        alarm.score = score


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
