"""Errors on the dashboard: HTML pages for people, while the API keeps its problem+json.

The application's error handlers (``core.problems``) stay in charge of everything else; these
wrap them and answer with a page only for dashboard requests (a dashboard route, or a browser
asking for HTML outside the API). Requests without a session go to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shopfloor.core.errors import ShopfloorError
from shopfloor.web.cookies import STATE_WEB
from shopfloor.web.templating import render

log = structlog.get_logger("shopfloor.web")
Handler = Callable[[Request, Any], Awaitable[Response]]
NOT_PAGES = ("/api/", "/docs", "/redoc", "/metrics", "/health/")
LOGIN_PATH = "/login"
SIGNED_OUT = "signed-out"  # the event a live stream sends when its session has ended


class LoginRequired(Exception):
    """The request needs a signed-in user and has none (or their session ended)."""


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server, else ``/``: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def login_url(next_path: str | None) -> str:
    target = safe_next(next_path)
    return LOGIN_PATH if target == "/" else f"{LOGIN_PATH}?next={quote(target, safe='/')}"


def _wants_page(request: Request) -> bool:
    if request.url.path.startswith(NOT_PAGES):
        return False
    if getattr(request.state, STATE_WEB, False):
        return True
    return "text/html" in request.headers.get("accept", "")


def _current_path(request: Request) -> str:
    if is_htmx(request):
        current = urlsplit(request.headers.get("hx-current-url", ""))
        return current.path + (f"?{current.query}" if current.query else "")
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


async def _login_required(request: Request, exc: LoginRequired) -> Response:
    target = login_url(
        _current_path(request) if request.method == "GET" or is_htmx(request) else "/"
    )
    if "text/event-stream" in request.headers.get("accept", ""):
        # An event stream cannot follow a redirect to a page: tell the page, which reloads.
        body = f"retry: 60000\nevent: {SIGNED_OUT}\ndata: \n\n".encode()
        return Response(body, media_type="text/event-stream")
    if is_htmx(request):
        # htmx follows this header with a full page load instead of swapping a fragment.
        return Response(status_code=200, headers={"HX-Redirect": target})
    if request.method == "GET" and request.headers.get("sec-fetch-site") == "cross-site":
        # A link from another site (an alarm e-mail) arrives without SameSite=Strict cookies;
        # the same URL loaded again from here carries them, so try once more before asking.
        return render(request, "bounce.html", {"target": _current_path(request)}, page=False)
    return RedirectResponse(target, status_code=303)


def error_page(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """An error as a page (or, for htmx, a fragment its error handler shows)."""
    context = {
        "status": status,
        "title": title or HTTPStatus(status).phrase,
        "detail": detail,
        "errors": errors or [],
    }
    page = not is_htmx(request)
    template = "error.html" if page else "error_fragment.html"
    return render(request, template, context, status, headers, page=page)


def _page_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    """What still applies to a page: Retry-After and Allow, not an API's WWW-Authenticate."""
    kept = {k: v for k, v in (headers or {}).items() if k.lower() in {"retry-after", "allow"}}
    return kept or None


def _for_pages(original: Handler | None, as_page: Handler) -> Handler:
    async def handler(request: Request, exc: Any) -> Response:
        if _wants_page(request) or original is None:
            return await as_page(request, exc)
        return await original(request, exc)

    return handler


async def _shopfloor_error(request: Request, exc: ShopfloorError) -> Response:
    if exc.status >= 500:
        log.error("page failed", path=request.url.path, error=str(exc))
    headers = _page_headers(exc.headers)
    return error_page(
        request, exc.status, exc.detail, title=exc.title, errors=exc.errors, headers=headers
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        {"loc": [p for p in e.get("loc", ()) if p != "body"], "msg": e.get("msg", "")}
        for e in exc.errors()
    ]
    return error_page(request, 422, "Some of what was sent is not valid.", errors=errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404:
        detail = f"There is no page at {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not possible on {request.url.path}."
    return error_page(request, exc.status_code, detail, headers=_page_headers(exc.headers))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("page failed unexpectedly", path=request.url.path)
    try:
        return error_page(request, 500, "Something went wrong on our side; it has been logged.")
    except Exception:  # the page itself cannot be drawn: say so plainly
        log.exception("error page failed", path=request.url.path)
        return PlainTextResponse("Internal server error", status_code=500)


def install_error_pages(app: FastAPI) -> None:
    """Wrap the application's error handlers (install after ``install_problem_handlers``)."""
    app.add_exception_handler(LoginRequired, _login_required)
    own: dict[Any, Handler] = {
        ShopfloorError: _shopfloor_error,
        RequestValidationError: _validation_error,
        StarletteHTTPException: _http_error,
        Exception: _unexpected,
    }
    for kind, as_page in own.items():
        app.add_exception_handler(kind, _for_pages(app.exception_handlers.get(kind), as_page))
