"""The one check in front of every API route: who is calling, and may they?

``authorize`` is a dependency of the whole API router, so no route can forget it. It looks the
route up in ``auth.policy``, authenticates the caller (a bearer token or an API key), refuses
with 401 or 403 before the route runs, and otherwise records who is acting for the audit trail
and for fields such as ``acknowledged_by``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import suppress

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from shopfloor.auth.authenticate import authenticate
from shopfloor.auth.context import Acting, current
from shopfloor.auth.policy import Access, rule_for
from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import Forbidden, Unauthorized

API_PREFIX = "/api/v1"
log = structlog.get_logger("shopfloor.auth")

# Declared so that the OpenAPI document and Swagger's "Authorize" know both ways in; the
# credentials themselves are read by ``authenticate`` from the headers.
bearer_scheme = OAuth2PasswordBearer(tokenUrl=f"{API_PREFIX}/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


async def authorize(
    request: Request,
    _bearer: str | None = Depends(bearer_scheme),
    _api_key: str | None = Depends(api_key_scheme),
) -> AsyncIterator[Principal | None]:
    route_path = getattr(request.scope.get("route"), "path", "")
    rule = rule_for(request.method, route_path)
    if rule is None:
        # Fail closed: a route nobody wrote a rule for is nobody's.
        log.error("route has no access rule", method=request.method, path=route_path)
        raise Forbidden("No access rule covers this route; it is refused to everyone.")
    principal = None
    if rule is not Access.PUBLIC:
        principal = await _authenticate(request)
        if principal is None:
            raise Unauthorized("Sign in: send a bearer token or an X-API-Key header.")
        if rule is Access.USER and principal.kind != "user":
            raise Forbidden("This is for people signed in with a password, not for API keys.")
        if isinstance(rule, Permission) and not principal.may(rule):
            raise Forbidden(_refusal(principal, rule.value))
    request.state.principal = principal
    request.state.actor = principal.actor if principal else None
    token = current.set(
        Acting(
            actor=principal.actor if principal else "anonymous",
            source=request.client.host if request.client else None,
            request_id=structlog.contextvars.get_contextvars().get("request_id"),
            operation=f"{request.method} {API_PREFIX}{route_path}",
        )
    )
    try:
        yield principal
    finally:
        # The response may finish in another context; then there is nothing left to undo.
        with suppress(ValueError):
            current.reset(token)


async def _authenticate(request: Request) -> Principal | None:
    state = request.app.state
    return await authenticate(state.db, state.settings, request.headers)


def _refusal(principal: Principal, permission: str) -> str:
    who = (
        f"user {principal.name!r} (role {principal.role})"
        if principal.kind == "user"
        else f"API key {principal.name!r} (scopes {', '.join(sorted(principal.scopes))})"
    )
    return f"{who} lacks the {permission!r} permission this needs."
