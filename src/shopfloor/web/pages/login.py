"""Signing in and out of the dashboard.

The same check as ``POST /api/v1/auth/token``, lockouts, rate limit and audit trail included
(``users.authenticate_password``): a password, then, for accounts with a second factor, the
authenticator's code on a second form. Success starts a browser session (``web.session``).
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from shopfloor.auth import users
from shopfloor.auth.api import _rate_limit as count_sign_in_attempt  # the API's own limiter
from shopfloor.auth.models import User
from shopfloor.core.errors import TooManyRequests, Unauthorized
from shopfloor.web import pending
from shopfloor.web.errors import safe_next
from shopfloor.web.flash import flash
from shopfloor.web.session import current_session, end_session, start_session
from shopfloor.web.templating import render

PUBLIC = True
router = APIRouter()
NAV = None

WRONG_PASSWORD = "Wrong user name or password."
WRONG_CODE = (
    "That code is not the current one of your authenticator app, or it was used already. "
    "Wait for the next code and try again."
)
CODE_EXPIRED = "Signing in took too long; enter your password again."
TOTP_REQUIRED = "totp-required"


def _page(
    request: Request,
    step: str,
    next_path: str,
    *,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> Response:
    context = {"step": step, "next": next_path, "error": error, "username": username}
    return render(request, "login.html", context, status_code)


def _too_many(exc: TooManyRequests) -> str:
    minutes = max(1, math.ceil(exc.retry_after_s / 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    return f"{exc.detail} Try again in {wait}."


async def _signed_in(request: Request, user: User, next_path: str) -> Response:
    pending.forget(request)
    await start_session(request, user)
    return RedirectResponse(safe_next(next_path), status_code=303)


@router.get("/login", name="login")
async def login_page(request: Request, next: str = Query("/", max_length=2000)) -> Response:
    if await current_session(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _page(request, "password", safe_next(next))


@router.post("/login")
async def sign_in(
    request: Request,
    username: str = Form("", max_length=200),
    password: str = Form("", max_length=1024),
    next: str = Form("/", max_length=2000),
) -> Response:
    next_path = safe_next(next)
    if not username.strip() or not password:
        return _page(
            request,
            "password",
            next_path,
            username=username,
            status_code=422,
            error="Enter your user name and password.",
        )
    settings = request.app.state.settings
    source = request.client.host if request.client else None
    try:
        count_sign_in_attempt(request)
        user = await users.authenticate_password(
            request.app.state.db, username, password, None, source, settings
        )
    except TooManyRequests as exc:
        return _page(
            request, "password", next_path, username=username, error=_too_many(exc), status_code=429
        )
    except Unauthorized as exc:
        if exc.slug != TOTP_REQUIRED:
            return _page(
                request,
                "password",
                next_path,
                username=username,
                error=WRONG_PASSWORD,
                status_code=401,
            )
        pending.remember(request, settings, pending.PendingSignIn(username, password))
        return _page(request, "code", next_path, username=username)
    return await _signed_in(request, user, next_path)


@router.post("/login/code")
async def sign_in_code(
    request: Request,
    code: str = Form("", max_length=16),
    next: str = Form("/", max_length=2000),
) -> Response:
    next_path = safe_next(next)
    settings = request.app.state.settings
    waiting = pending.recall(request, settings)
    if waiting is None:
        pending.forget(request)
        return _page(request, "password", next_path, error=CODE_EXPIRED, status_code=401)
    if not code.strip():
        return _page(
            request,
            "code",
            next_path,
            username=waiting.username,
            error="Enter the code your authenticator app shows.",
            status_code=422,
        )
    source = request.client.host if request.client else None
    try:
        count_sign_in_attempt(request)
        user = await users.authenticate_password(
            request.app.state.db, waiting.username, waiting.password, code, source, settings
        )
    except TooManyRequests as exc:
        pending.forget(request)
        return _page(
            request,
            "password",
            next_path,
            username=waiting.username,
            error=_too_many(exc),
            status_code=429,
        )
    except Unauthorized as exc:
        if exc.slug == "invalid-totp":
            return _page(
                request,
                "code",
                next_path,
                username=waiting.username,
                error=WRONG_CODE,
                status_code=401,
            )
        # The password no longer holds (changed or the account deactivated meanwhile).
        pending.forget(request)
        return _page(
            request,
            "password",
            next_path,
            username=waiting.username,
            error=WRONG_PASSWORD,
            status_code=401,
        )
    return await _signed_in(request, user, next_path)


@router.post("/logout", name="logout")
async def sign_out(request: Request) -> Response:
    await end_session(request)
    flash(request, "You have signed out.", "success")
    return RedirectResponse("/login", status_code=303)
