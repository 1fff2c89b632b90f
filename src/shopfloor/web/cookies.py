"""The dashboard's cookies, and the middleware that puts them (and its headers) on responses.

Whatever decides a cookie during a request (a rotated session, a new CSRF seed, a flash
message) records it with ``set_cookie``/``delete_cookie``; ``WebResponseMiddleware`` writes
them on whatever response the request ends with: a page, a redirect, an error page or an
event stream. Every cookie is HttpOnly and SameSite=Strict, and Secure when served over HTTPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import SimpleCookie

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_COOKIE = "sf_access"
REFRESH_COOKIE = "sf_refresh"
CSRF_COOKIE = "sf_csrf"
FLASH_COOKIE = "sf_flash"
PENDING_COOKIE = "sf_pending"

STATE_COOKIES = "web_cookies"  # request.state: the changes to write
STATE_WEB = "web_response"  # request.state: a dashboard response (its headers apply)

# Pages load only this server's scripts, styles and images; htmx's inline indicator style is
# switched off (see base.html), and no script is evaluated from attributes.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", PAGE_CSP.encode()),
    # Signed-in pages show plant data: never from a shared cache, never from history.
    (b"cache-control", b"no-store"),
    # The API's no-referrer would make the browser send "Origin: null" with the pages' own
    # forms; same-origin keeps the origin (and any referrer) within this server.
    (b"referrer-policy", b"same-origin"),
]
_PAGE_HEADER_NAMES = {name for name, _ in PAGE_HEADERS}


@dataclass(frozen=True, slots=True)
class CookieChange:
    name: str
    value: str
    max_age: int  # seconds; 0 deletes


def set_cookie(request: Request, name: str, value: str, max_age: int) -> None:
    _changes(request)[name] = CookieChange(name, value, max_age)


def delete_cookie(request: Request, name: str) -> None:
    _changes(request)[name] = CookieChange(name, "", 0)


def pending_value(request: Request, name: str) -> str | None:
    """The value set during this request, else the one the browser sent."""
    change = _changes(request).get(name)
    if change is not None:
        return change.value or None
    return request.cookies.get(name)


def mark_web_response(request: Request) -> None:
    setattr(request.state, STATE_WEB, True)


def _changes(request: Request) -> dict[str, CookieChange]:
    changes = getattr(request.state, STATE_COOKIES, None)
    if changes is None:
        changes = {}
        setattr(request.state, STATE_COOKIES, changes)
    return changes


def _header(change: CookieChange, secure: bool) -> bytes:
    jar: SimpleCookie = SimpleCookie()
    jar[change.name] = change.value
    morsel = jar[change.name]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    morsel["max-age"] = str(max(0, change.max_age))
    if secure:
        morsel["secure"] = True
    return morsel.OutputString().encode("latin-1")


class WebResponseMiddleware:
    """Adds the recorded cookies, and on dashboard responses the page headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = scope.get("state") or {}
                changes: dict[str, CookieChange] = state.get(STATE_COOKIES) or {}
                extra = [
                    (b"set-cookie", _header(change, scope.get("scheme") == "https"))
                    for change in changes.values()
                ]
                headers = list(message.get("headers", []))
                if state.get(STATE_WEB):
                    # These replace what the application-wide hardening set for the API.
                    headers = [h for h in headers if h[0].lower() not in _PAGE_HEADER_NAMES]
                    extra += PAGE_HEADERS
                if extra:
                    message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_cookies)
