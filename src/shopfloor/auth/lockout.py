"""Slowing down password guessing: lockouts in the database, a request rate in memory.

Lockout (``LoginThrottle`` rows): ``lockout_failures`` failed sign-ins within ``lockout_s`` lock
the user name for ``lockout_s``, whoever tries it, and likewise the source address, whatever
names it tries; while locked even the right password is refused. The rows are shared by every
API process. A failure must be committed although the request answers 401: the caller records
it in a unit of work of its own.

Rate limit (``limits``, moving window, per process): the sign-in endpoints take at most
``auth_rate_limit`` requests per address, so a flood is turned away before any password hash is
computed, which is the expensive part.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth.models import LoginThrottle
from shopfloor.config import Settings
from shopfloor.core.errors import TooManyRequests

_INSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}
_KEY_LENGTH = 200


def user_key(username: str) -> str:
    return f"user:{username.strip().lower()}"[:_KEY_LENGTH]


def address_key(address: str) -> str:
    return f"addr:{address}"[:_KEY_LENGTH]


def audit_target(key: str) -> str:
    """How the audit trail names what a key throttles: ``user/NAME``, ``address/IP``."""
    kind, _, name = key.partition(":")
    return f"{'user' if kind == 'user' else 'address'}/{name}"


def keys_for(username: str, source: str | None) -> list[str]:
    """The throttle keys a sign-in attempt counts against."""
    return [user_key(username)] + ([address_key(source)] if source else [])


async def check(
    session: AsyncSession, keys: Sequence[str], now: datetime, settings: Settings
) -> None:
    """TooManyRequests (with Retry-After) when any of ``keys`` is locked at ``now``."""
    until = await session.scalar(
        select(LoginThrottle.locked_until)
        .where(LoginThrottle.key.in_(keys), LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.locked_until.desc())
        .limit(1)
    )
    if until is not None:
        raise TooManyRequests(
            "Too many failed sign-ins; try again later.",
            retry_after_s=math.ceil((until - now).total_seconds()),
        )


async def record_failure(
    session: AsyncSession, keys: Sequence[str], now: datetime, settings: Settings
) -> list[str]:
    """Count a failed sign-in against each key; lock those that reach the limit.

    Returns the keys this failure locked (not those locked already), for the audit trail.
    """
    window = timedelta(seconds=settings.lockout_s)
    locked = []
    for key in keys:
        row = await _locked_row(session, key, now)
        if row.locked_until is not None and row.locked_until <= now:
            row.failures, row.first_failure_at, row.locked_until = 0, now, None
        elif now - row.first_failure_at > window:
            row.failures, row.first_failure_at = 0, now
        row.failures += 1
        if row.failures >= settings.lockout_failures and (
            row.locked_until is None or row.locked_until <= now
        ):
            row.locked_until = now + window
            locked.append(key)
    await session.flush()
    return locked


async def _locked_row(session: AsyncSession, key: str, now: datetime) -> LoginThrottle:
    """The key's row, created when missing, locked for this transaction.

    Insert-if-missing first: two processes failing for one new key at once must not both
    insert it.
    """
    insert = _INSERTS[session.get_bind().dialect.name]
    await session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, first_failure_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = await session.scalar(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def record_success(session: AsyncSession, user_key: str) -> None:
    """A good sign-in forgets the user's failures (not the address's)."""
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == user_key))


class AuthRateLimiter:
    """Requests per source address to the sign-in endpoints, in this process's memory."""

    def __init__(self, rate: str) -> None:
        self.item: RateLimitItem = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, source: str | None) -> None:
        """Count one request from ``source``; TooManyRequests when it is over the rate."""
        who = source or "unknown"
        if self.limiter.hit(self.item, "auth", who):
            return
        reset_at = self.limiter.get_window_stats(self.item, "auth", who).reset_time
        raise TooManyRequests(
            f"Too many sign-in requests from this address (at most {self.item}).",
            retry_after_s=math.ceil(reset_at - time.time()),
        )
