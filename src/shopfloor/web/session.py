"""The browser's session: the API's own token pair, kept in HttpOnly cookies.

Signing in hands the browser what ``POST /api/v1/auth/token`` hands an API client: a short-lived
access token and a refresh token of a new family. Each request is authenticated with the access
token exactly as an API call is (signature, expiry, the user still active, their token version
unchanged); once it has expired the refresh token is rotated, as ``POST /api/v1/auth/refresh``
does, and both cookies are replaced. Signing out revokes the family. So a password or role
change, a deactivation, or a refresh token used twice ends a browser session exactly as it ends
an API client's.

A page often sends several requests at once (the page, its event stream, fragments); those that
carry the same expired pair share one rotation (``RotationMemo``), or the second would present a
spent refresh token and, by design, revoke the whole sign-in. The sharing lasts a few seconds
and holds within one process: a spent token presented later, or to another process, revokes
the family as the API would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from shopfloor.auth import tokens
from shopfloor.auth.authenticate import authenticate
from shopfloor.auth.models import User
from shopfloor.auth.principal import Principal
from shopfloor.auth.secret import signing_key
from shopfloor.config import Settings
from shopfloor.core.errors import Unauthorized
from shopfloor.web.cookies import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    delete_cookie,
    set_cookie,
)

ROTATION_GRACE_S = 10.0


@dataclass(frozen=True, slots=True)
class BrowserSession:
    principal: Principal
    access_token: str
    expires_at: float  # epoch seconds: the access token's expiry


@dataclass(frozen=True, slots=True)
class Rotated:
    access_token: str
    refresh_token: str


class RotationMemo:
    """One rotation per refresh token for the requests that present it within a few seconds."""

    def __init__(self, grace_s: float = ROTATION_GRACE_S) -> None:
        self.grace_s = grace_s
        self._done: dict[str, tuple[float, Rotated | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def rotate(
        self, refresh_token: str, run: Callable[[], Awaitable[Rotated | None]]
    ) -> Rotated | None:
        key = tokens.refresh_digest(refresh_token)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            self._done = {k: v for k, v in self._done.items() if v[0] > now}
            if key in self._done:
                return self._done[key][1]
            result = await run()
            self._done[key] = (now + self.grace_s, result)
        self._locks.pop(key, None)
        return result


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


def _memo(request: Request) -> RotationMemo:
    state = request.app.state
    memo = getattr(state, "web_rotations", None)
    if memo is None:
        memo = state.web_rotations = RotationMemo()
    return memo


async def start_session(request: Request, user: User) -> BrowserSession:
    """Sign ``user`` in on this browser: a new token family, both cookies set."""
    settings = _settings(request)
    async with request.app.state.db.write() as session:
        refresh = await tokens.issue_refresh_token(
            session, user, settings.refresh_token_ttl_s, source=_source(request)
        )
    access = tokens.issue_access_token(signing_key(settings), user, settings.access_token_ttl_s)
    _keep(request, settings, Rotated(access, refresh))
    return await _from_access(request, access)


async def current_session(request: Request) -> BrowserSession | None:
    """The signed-in session of this request's cookies, rotated when its access has expired."""
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        try:
            return await _from_access(request, access)
        except Unauthorized:
            pass  # expired or no longer valid: the refresh token decides
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        if access:
            delete_cookie(request, ACCESS_COOKIE)
        return None
    rotated = await _memo(request).rotate(refresh, lambda: _rotate(request, refresh))
    if rotated is None:
        _forget(request)
        return None
    _keep(request, _settings(request), rotated)
    try:
        return await _from_access(request, rotated.access_token)
    except Unauthorized:
        _forget(request)
        return None


async def still_valid(request: Request, session: BrowserSession) -> bool:
    """False once the session's access token expired or its user was signed out meanwhile."""
    if time.time() >= session.expires_at:
        return False
    try:
        await _from_access(request, session.access_token)
    except Unauthorized:
        return False
    return True


async def end_session(request: Request) -> None:
    """Sign out: the refresh token's family is revoked and the cookies are deleted."""
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        async with request.app.state.db.write() as session:
            await tokens.revoke_family(session, refresh)
    _forget(request)


async def _from_access(request: Request, access: str) -> BrowserSession:
    settings = _settings(request)
    claims = tokens.decode_access_token(signing_key(settings), access)
    headers = {"authorization": f"Bearer {access}"}
    principal = await authenticate(request.app.state.db, settings, headers)
    if principal is None or principal.kind != "user":
        raise Unauthorized("not a user's session")
    return BrowserSession(principal, access, float(claims["exp"]))


async def _rotate(request: Request, refresh: str) -> Rotated | None:
    settings = _settings(request)
    user: User | None = None
    async with request.app.state.db.write() as session:
        try:
            user, new_refresh = await tokens.rotate_refresh_token(
                session, refresh, settings.refresh_token_ttl_s, source=_source(request)
            )
        except Unauthorized:
            # Unknown, expired, or spent already (then its family was revoked just now, and
            # that revocation commits with this block).
            return None
    access = tokens.issue_access_token(signing_key(settings), user, settings.access_token_ttl_s)
    return Rotated(access, new_refresh)


def _keep(request: Request, settings: Settings, rotated: Rotated) -> None:
    set_cookie(request, ACCESS_COOKIE, rotated.access_token, settings.access_token_ttl_s)
    set_cookie(request, REFRESH_COOKIE, rotated.refresh_token, settings.refresh_token_ttl_s)


def _forget(request: Request) -> None:
    delete_cookie(request, ACCESS_COOKIE)
    delete_cookie(request, REFRESH_COOKIE)
