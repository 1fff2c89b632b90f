"""Alarms on an asset, raised from what its models say: ``failure_risk`` and ``drift``.

A condition on an asset is judged each time its figures are worked out, not reading by reading:
the caller says whether it holds, with the time of the newest reading it rests on. While it
holds, the alarm opens (unless a shelf covers the asset) or counts on the live one; a repeat
judgement on the same readings (a replayed message, a second worker) counts nothing. Once it no
longer holds, the live alarm resolves by condition; the alarm clock closes it later like any
other. At most one alarm not closed per (asset, rule), enforced by the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm
from shopfloor.alarms.publish import alarm_document
from shopfloor.alarms.rules import Rule
from shopfloor.alarms.shelves import ShelfMatcher, count_suppressed
from shopfloor.alarms.transitions import ACTIVE, moment, resolve_by_condition

# An event to record: its name and the alarm document.
Change = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class AssetCondition:
    """A judgement of one condition on one asset."""

    asset_id: int
    path: str
    rule: str  # the alarm's rule: a rule's name, or a built-in one ("failure_risk", "drift:…")
    kind: str
    severity: str
    holds: bool
    message: str
    value: float | None
    reading_us: int  # the newest reading the judgement rests on
    rule_id: int | None = None


def covering_rule(rules: list[Rule], kind: str, path: str) -> Rule | None:
    """Of the enabled rules of ``kind`` whose scope covers ``path``, the most specific."""
    found = [rule for rule in rules if rule.kind == kind and rule.covers(path)]
    return max(found, key=lambda rule: len(rule.scope), default=None)


async def live_alarm(session: AsyncSession, asset_id: int, rule: str, dialect: str) -> Alarm | None:
    """The asset's alarm of ``rule`` that is not closed (locked on PostgreSQL)."""
    query = select(Alarm).where(
        Alarm.asset_id == asset_id, Alarm.rule == rule, Alarm.state != "closed"
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    return await session.scalar(query)


async def judge(
    session: AsyncSession,
    condition: AssetCondition,
    shelves: ShelfMatcher,
    now: datetime,
    dialect: str,
) -> list[Change]:
    """Apply ``condition`` to the asset's alarm; the events it makes."""
    alarm = await live_alarm(session, condition.asset_id, condition.rule, dialect)
    live = alarm is not None and alarm.state in ACTIVE
    if not condition.holds:
        if not live:
            return []
        assert alarm is not None
        resolve_by_condition(alarm, now)
        await session.flush()
        return [("alarm.resolved", alarm_document(alarm, None))]
    if live:
        assert alarm is not None
        if condition.reading_us > alarm.last_reading_us:
            alarm.count += 1
            alarm.last_reading_us = condition.reading_us
            alarm.last_seen_at = moment(condition.reading_us)
            alarm.value = condition.value
            alarm.message = condition.message
        return []
    shelf = shelves.covering(condition.path, now)
    if shelf is not None:
        await count_suppressed(session, shelf.id, 1)
        return []
    if alarm is not None:  # resolved: that episode is over, this is a new one
        alarm.state = "closed"
        alarm.closed_at = now
        await session.flush()
    opened = _opened(condition, now)
    session.add(opened)
    await session.flush()
    return [("alarm.opened", alarm_document(opened, None))]


def _opened(condition: AssetCondition, now: datetime) -> Alarm:
    at = moment(condition.reading_us)
    return Alarm(
        sensor_id=None,
        asset_id=condition.asset_id,
        subject_path=condition.path,
        rule=condition.rule,
        rule_id=condition.rule_id,
        kind=condition.kind,
        severity=condition.severity,
        state="open",
        message=condition.message,
        value=condition.value,
        score=None,
        count=1,
        opened_at=at,
        last_seen_at=at,
        last_reading_us=condition.reading_us,
        last_notified_at=now,
        escalation_level=0,
    )
