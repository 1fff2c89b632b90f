"""Who is acting on a request: the name recorded as acknowledged_by, resolved_by, author."""

from __future__ import annotations

from fastapi import Request

ANONYMOUS = "anonymous"


def actor_of(request: Request) -> str:
    """The authenticated user's name once authentication has set it, else ``anonymous``."""
    return getattr(request.state, "actor", None) or ANONYMOUS
