"""Dependencies of dashboard routes: who is signed in, and may they do this?

``signed_in`` guards every page router (``pages.install``): without a session the browser goes
to the sign-in page. A route that needs more than reading adds ``Depends(requires(P.X))``; the
same permissions as the API's (``auth.roles``), never a table of the dashboard's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress

import structlog
from fastapi import Depends, Request

from shopfloor.auth.context import Acting, current
from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import Forbidden
from shopfloor.web.cookies import mark_web_response
from shopfloor.web.errors import LoginRequired
from shopfloor.web.session import BrowserSession, current_session

STATE_SESSION = "web_session"


async def web_route(request: Request) -> None:
    """Every dashboard route: its responses carry the page headers, its errors are pages."""
    mark_web_response(request)


async def signed_in(request: Request) -> AsyncIterator[Principal]:
    """The signed-in user; changes they make are audited as theirs, as through the API."""
    session = await current_session(request)
    if session is None:
        raise LoginRequired()
    principal = session.principal
    request.state.principal = principal
    request.state.actor = principal.actor
    setattr(request.state, STATE_SESSION, session)
    token = current.set(
        Acting(
            actor=principal.actor,
            source=request.client.host if request.client else None,
            request_id=structlog.contextvars.get_contextvars().get("request_id"),
            operation=f"{request.method} {request.url.path}",
        )
    )
    try:
        yield principal
    finally:
        # A streamed response may finish in another context; then there is nothing to undo.
        with suppress(ValueError):
            current.reset(token)


def browser_session(request: Request) -> BrowserSession:
    """The session ``signed_in`` found (for streams that re-check it as they run)."""
    session = getattr(request.state, STATE_SESSION, None)
    if session is None:
        raise LoginRequired()
    return session


def requires(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the signed-in principal, refused (403 page) without ``permission``."""

    async def check(principal: Principal = Depends(signed_in)) -> Principal:
        if not principal.may(permission):
            raise Forbidden(
                f"Your role ({principal.role}) does not allow this: it needs the "
                f"{permission.value!r} permission."
            )
        return principal

    return check
