"""What the administration landing page says about each section: a few counts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import AlarmRule
from shopfloor.auth.models import ApiKey, AuditEntry, User
from shopfloor.core.clock import utcnow
from shopfloor.notify.models import DEAD, FAILED, SENT, Channel, Delivery, Subscription
from shopfloor.web.admin.sections import AdminSection

DAY = timedelta(days=1)


async def _count(session: AsyncSession, *query: object) -> int:
    return int(await session.scalar(*query) or 0)  # type: ignore[arg-type]


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


async def _users(session: AsyncSession) -> list[str]:
    total = await _count(session, select(func.count(User.id)))
    disabled = await _count(session, select(func.count(User.id)).where(User.active.is_(False)))
    totp = await _count(session, select(func.count(User.id)).where(User.totp_enabled.is_(True)))
    lines = [_plural(total, "user"), f"{totp} with a second factor"]
    if disabled:
        lines.append(f"{disabled} disabled")
    return lines


async def _api_keys(session: AsyncSession) -> list[str]:
    now = utcnow()
    active = await _count(
        session,
        select(func.count(ApiKey.id)).where(
            ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
        ),
    )
    total = await _count(session, select(func.count(ApiKey.id)))
    return [_plural(active, "active key"), f"{total - active} revoked or expired"]


async def _channels(session: AsyncSession) -> list[str]:
    channels = await _count(session, select(func.count(Channel.id)))
    off = await _count(session, select(func.count(Channel.id)).where(Channel.enabled.is_(False)))
    subscriptions = await _count(session, select(func.count(Subscription.id)))
    lines = [_plural(channels, "channel"), _plural(subscriptions, "subscription")]
    if off:
        lines.append(f"{off} disabled")
    return lines


async def _deliveries(session: AsyncSession) -> list[str]:
    since = utcnow() - DAY
    recent = select(func.count(Delivery.id)).where(Delivery.created_at >= since)
    sent = await _count(session, recent.where(Delivery.status == SENT))
    failing = await _count(session, recent.where(Delivery.status.in_((FAILED, DEAD))))
    return [f"{sent} sent in the last 24 h", f"{failing} failed or given up"]


async def _rules(session: AsyncSession) -> list[str]:
    total = await _count(session, select(func.count(AlarmRule.id)))
    off = await _count(
        session, select(func.count(AlarmRule.id)).where(AlarmRule.enabled.is_(False))
    )
    lines = [_plural(total, "rule")]
    if off:
        lines.append(f"{off} disabled")
    return lines


async def _audit(session: AsyncSession) -> list[str]:
    since = utcnow() - DAY
    recent = await _count(session, select(func.count(AuditEntry.id)).where(AuditEntry.at >= since))
    return [f"{_plural(recent, 'entry', 'entries')} in the last 24 h"]


COUNTERS = {
    "users": _users,
    "api-keys": _api_keys,
    "channels": _channels,
    "deliveries": _deliveries,
    "rules": _rules,
    "audit": _audit,
}


async def section_facts(
    session: AsyncSession, sections: list[AdminSection]
) -> dict[str, list[str]]:
    """For each section shown, a few short lines of counts."""
    return {section.key: await COUNTERS[section.key](session) for section in sections}
