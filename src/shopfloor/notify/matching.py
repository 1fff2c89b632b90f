"""Which subscriptions an alarm event reaches: scope, severity, events and quiet hours.

Subscriptions are read from the database at most every few seconds (``SubscriptionCache``), so
an alarm storm costs one query per few seconds, not one per event. Changes made through this
process's API are seen at once (``subscriptions_changed``); changes made by another process
within ``ttl_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shopfloor.alarms.events import REMINDER_AUDIENCE, SEVERITIES, severity_rank
from shopfloor.notify.models import Channel, Subscription
from shopfloor.storage.database import Database

_generation = 0


def subscriptions_changed() -> None:
    """Tell the caches of this process that channels or subscriptions changed."""
    global _generation
    _generation += 1


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: clock_time
    end: clock_time
    zone: ZoneInfo
    label: str

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> QuietHours:
        start, end, zone = document["start"], document["end"], document["timezone"]
        return cls(
            clock_time.fromisoformat(start),
            clock_time.fromisoformat(end),
            ZoneInfo(zone),
            f"{start} to {end} {zone}",
        )

    def holds_at(self, moment: datetime) -> bool:
        """True when ``moment`` falls within the quiet hours (which may span midnight)."""
        local = moment.astimezone(self.zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True)
class Rule:
    """One subscription of an enabled channel, ready to match events."""

    subscription_id: int
    channel_id: int
    channel_kind: str
    scope: str
    min_rank: int
    events: frozenset[str]
    quiet: QuietHours | None

    def covers(self, path: str) -> bool:
        scope = self.scope
        return scope == "" or path == scope or path.startswith(scope + "/")


@dataclass(frozen=True, slots=True)
class Planned:
    """A delivery to create: ``skipped`` holds the reason when it must not be sent."""

    channel_id: int
    channel_kind: str
    subscription_id: int
    skipped: str | None


def plan(event: str, alarm: dict[str, Any], rules: Iterable[Rule], now: datetime) -> list[Planned]:
    """One delivery per channel the event reaches; a channel reached by several subscriptions
    gets it once, sent if any of them lets it through."""
    audience = REMINDER_AUDIENCE.get(event, event)
    path = str(alarm["path"])
    severity = str(alarm["severity"])
    rank = severity_rank(severity) if severity in SEVERITIES else 0
    chosen: dict[int, Planned] = {}
    for rule in rules:
        if audience not in rule.events or rank < rule.min_rank or not rule.covers(path):
            continue
        skipped = None
        if rule.quiet is not None and severity != "critical" and rule.quiet.holds_at(now):
            skipped = f"quiet hours {rule.quiet.label}: only critical alarms are sent"
        candidate = Planned(rule.channel_id, rule.channel_kind, rule.subscription_id, skipped)
        current = chosen.get(rule.channel_id)
        if current is None or (current.skipped and not skipped):
            chosen[rule.channel_id] = candidate
    return list(chosen.values())


async def load_rules(database: Database) -> list[Rule]:
    query = (
        select(Subscription, Channel.kind)
        .join(Channel, Channel.id == Subscription.channel_id)
        .where(Channel.enabled.is_(True))
        .order_by(Subscription.id)
    )
    async with database.read() as session:
        subscriptions = (await session.execute(query)).all()
    return [
        Rule(
            subscription_id=sub.id,
            channel_id=sub.channel_id,
            channel_kind=kind,
            scope=sub.scope,
            min_rank=severity_rank(sub.min_severity),
            events=frozenset(sub.events),
            quiet=QuietHours.from_document(sub.quiet_hours) if sub.quiet_hours else None,
        )
        for sub, kind in subscriptions
    ]


class SubscriptionCache:
    """The rules, read again after ``ttl_s`` or when this process changed them."""

    def __init__(
        self, database: Database, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.database = database
        self.ttl_s = ttl_s
        self._clock = clock
        self._rules: list[Rule] = []
        self._read_at: float | None = None
        self._generation = -1

    def invalidate(self) -> None:
        self._read_at = None

    async def rules(self) -> list[Rule]:
        now = self._clock()
        stale = self._read_at is None or now - self._read_at >= self.ttl_s
        if stale or self._generation != _generation:
            generation = _generation
            self._rules = await load_rules(self.database)
            self._read_at, self._generation = now, generation
        return self._rules
