"""Alarm rules as the stages evaluate them: which sensors a rule covers, and per reading whether
its condition is active, clear, or (inside a threshold's deadband) neither.

A threshold's deadband is what keeps a value hovering at a limit from flapping: the alarm opens
when the value crosses the limit and clears only once it is back inside by the deadband.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shopfloor.alarms.models import AlarmRule
from shopfloor.alarms.schemas import rule_params

US = 1_000_000
MESSAGES = {
    "threshold": "reading outside its limits",
    "rate_of_change": "reading changing faster than allowed",
    "anomaly": "anomalous readings",
    "no_data": "no readings",
    "spc": "process out of statistical control",
    "failure_risk": "failure risk above its threshold",
    "drift": "model inputs drifted from their training data",
}


@dataclass(frozen=True)
class SensorFacts:
    """What rule evaluation needs to know of a sensor."""

    id: int
    path: str
    low: float | None
    high: float | None
    sampling_interval_s: float | None


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    scope: str
    kind: str
    params: dict[str, Any]
    severity: str
    for_seconds: float

    @classmethod
    def of(cls, row: AlarmRule) -> Rule:
        return cls(
            id=row.id,
            name=row.name,
            scope=row.scope,
            kind=row.kind,
            # Validated again: a rule edited behind the API's back fails here, not mid-batch.
            params=rule_params(row.kind, row.params, row.severity),
            severity=row.severity,
            for_seconds=float(row.for_seconds or 0.0),
        )

    def covers(self, path: str) -> bool:
        return not self.scope or path == self.scope or path.startswith(self.scope + "/")

    @property
    def clear_us(self) -> int:
        return int(float(self.params["clear_seconds"]) * US)

    @property
    def for_us(self) -> int:
        return int(self.for_seconds * US)

    @property
    def escalated_severity(self) -> str:
        return str(self.params["escalate_to"])

    @property
    def message(self) -> str:
        return MESSAGES.get(self.kind, self.kind)


@dataclass
class Conditions:
    """Per reading: the condition holds (``active``), or is clear (``clear``); both False is
    the deadband, where nothing changes."""

    active: np.ndarray
    clear: np.ndarray


@dataclass
class SensorMemory:
    """What a stage remembers of a sensor between messages."""

    last_ts_us: int | None = None
    last_value: float | None = None
    pending_since_us: dict[str, int] = field(default_factory=dict)  # rule name → first active


def evaluate(
    rule: Rule,
    sensor: SensorFacts,
    ts_us: np.ndarray,
    values: np.ndarray,
    scores: np.ndarray,
    memory: SensorMemory,
) -> Conditions:
    """The rule's condition over a sensor's readings, in time order."""
    count = len(ts_us)
    if rule.kind == "threshold":
        return _threshold(rule, sensor, values)
    if rule.kind == "rate_of_change":
        return _rate_of_change(rule, ts_us, values, memory)
    if rule.kind == "anomaly":
        active = scores >= float(rule.params.get("threshold", 0.5))
        return Conditions(active, ~active)
    if rule.kind == "no_data":  # readings arriving is the condition clearing
        return Conditions(np.zeros(count, dtype=bool), np.ones(count, dtype=bool))
    # spc rules are evaluated on quality measurements, failure_risk and drift rules on what an
    # asset's models say: none on a sensor's readings.
    return Conditions(np.zeros(count, dtype=bool), np.zeros(count, dtype=bool))


def threshold_limits(rule: Rule, sensor: SensorFacts) -> tuple[float, float, float]:
    """(low, high, deadband): the rule's own limits, else the sensor's."""
    params = rule.params
    own = params.get("low") is not None or params.get("high") is not None
    low = params.get("low") if own else sensor.low
    high = params.get("high") if own else sensor.high
    low_f = -np.inf if low is None else float(low)
    high_f = np.inf if high is None else float(high)
    deadband = float(params.get("deadband") or 0.0)
    percent = params.get("deadband_percent")
    if not deadband and percent and np.isfinite(low_f) and np.isfinite(high_f):
        deadband = (high_f - low_f) * float(percent) / 100.0
    return low_f, high_f, deadband


def _threshold(rule: Rule, sensor: SensorFacts, values: np.ndarray) -> Conditions:
    low, high, deadband = threshold_limits(rule, sensor)
    active = (values < low) | (values > high)
    clear = (values >= low + deadband) & (values <= high - deadband)
    return Conditions(active, clear & ~active)


def _rate_of_change(
    rule: Rule, ts_us: np.ndarray, values: np.ndarray, memory: SensorMemory
) -> Conditions:
    limit = float(rule.params["max_per_second"])
    if memory.last_ts_us is not None and memory.last_value is not None:
        times = np.concatenate(([memory.last_ts_us], ts_us))
        series = np.concatenate(([memory.last_value], values))
    else:
        times, series = ts_us, values
    rates = np.zeros(len(ts_us))
    if len(series) > 1:
        steps = np.diff(times) / US
        changes = np.abs(np.diff(series))
        with np.errstate(divide="ignore", invalid="ignore"):
            computed = np.where(steps > 0, changes / steps, 0.0)
        rates[len(ts_us) - len(computed) :] = computed
    active = rates > limit
    return Conditions(active, ~active)
