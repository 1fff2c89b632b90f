"""Alarm events: what the alarm machinery tells the rest of the platform (``notify`` first).

Every change of an alarm that people care about is written to the outbox in the same
transaction as the change, and published on ``ALARM_EVENTS`` after the commit:

    Envelope(topic="alarm.events", key=<sensor path>, id="outbox-<n>",
             payload={"event": "alarm.opened", "alarm": {...}, "at": "<RFC 3339>"})

``alarm`` is the alarm as the API shows it (CONTRACT "Alarms": id, sensor, path, rule, kind,
severity, state, message, value, score, count, opened_at, last_seen_at, acknowledged_by,
acknowledged_at, resolved_by, resolved_at, assignee, notes, plus resolution and
escalation_level). ``at`` is when the change happened.
"""

from __future__ import annotations

from typing import Any, Literal

ALARM_EVENTS = "alarm.events"

AlarmEvent = Literal[
    "alarm.opened",
    "alarm.escalated",
    "alarm.reminder",
    "alarm.acknowledged",
    "alarm.resolved",
]
# What subscriptions may ask for (CONTRACT); a reminder reaches those of ``alarm.opened``.
SUBSCRIBABLE_EVENTS: tuple[str, ...] = (
    "alarm.opened",
    "alarm.escalated",
    "alarm.acknowledged",
    "alarm.resolved",
)
REMINDER_AUDIENCE = {"alarm.reminder": "alarm.opened"}

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical."""
    return SEVERITIES.index(severity)


def event_payload(event: str, alarm: dict[str, Any], at: str) -> dict[str, Any]:
    return {"event": event, "alarm": alarm, "at": at}
