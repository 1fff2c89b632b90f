"""Who is acting right now, for the audit trail: set per request, or for a CLI command.

A context variable rather than a parameter, so that the audit hook on the database session
sees the actor of whatever request or command opened it without every service passing it on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Acting:
    actor: str  # a user name, ``key:NAME`` for an API key, ``cli:NAME`` for a command
    source: str | None = None  # the client's address, or "cli"
    request_id: str | None = None
    operation: str | None = None  # "POST /api/v1/alarms/{alarm_id}/acknowledge", "users create"


current: ContextVar[Acting | None] = ContextVar("shopfloor_acting", default=None)


def acting() -> Acting | None:
    return current.get()


@contextmanager
def acting_as(who: Acting) -> Iterator[Acting]:
    """Changes made while this holds are audited as ``who``'s (a CLI command, the demo)."""
    from shopfloor.auth.audit_hooks import install_audit_hooks

    install_audit_hooks()  # a command may change things before any app is built
    token = current.set(who)
    try:
        yield who
    finally:
        current.reset(token)
