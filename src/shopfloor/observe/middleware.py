"""ASGI middleware: request ids, access logs, durations and the request body limit.

Written as plain ASGI (not BaseHTTPMiddleware) so that it costs next to nothing on the ingest
hot path and never buffers a body.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfloor.core.errors import PayloadTooLarge
from shopfloor.core.problems import problem_response
from shopfloor.observe.metrics import HTTP_DURATION

log = structlog.get_logger("shopfloor.http")


class BodyTooLarge(HTTPException):
    """The body outgrew the limit while being read (chunked, or a false Content-Length).

    An ``HTTPException`` because FastAPI lets those through its body parsing, which turns any
    other error into a 400; the problem handler renders it like the early 413 below.
    """

    title = PayloadTooLarge.title

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


def too_large_detail(limit: int) -> str:
    return f"The request body exceeds {limit} bytes."


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = {"code": 500}

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send, request_id)
            self._finish(scope, 413, started)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, _limited(receive, self.max_body_bytes), send_with_id)
        except BodyTooLarge:
            await self._too_large(scope, receive, send, request_id)
            status["code"] = 413
        finally:
            self._finish(scope, status["code"], started)
            structlog.contextvars.unbind_contextvars("request_id")

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        response = problem_response(
            413,
            title=BodyTooLarge.title,
            detail=too_large_detail(self.max_body_bytes),
            instance=scope.get("path"),
            headers={"x-request-id": request_id},
        )
        await response(scope, receive, send)

    def _finish(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        template = route_template(scope)
        HTTP_DURATION.labels(scope["method"], template, str(status)).observe(elapsed)
        log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round(elapsed * 1000, 2),
        )


def route_template(scope: Scope) -> str:
    """The full path template of the route that answered, or "unmatched".

    FastAPI leaves the router's own route in the scope, whose path lacks the prefixes it was
    included under; the prefix is the part of the request path that the route did not match.
    """
    route = scope.get("route")
    template, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
    if template is None or regex is None:
        # A plain Starlette route (such as /metrics) records only its endpoint.
        plain = "endpoint" in scope and not scope.get("path_params")
        return str(scope["path"]) if plain else "unmatched"
    path: str = scope["path"]
    for cut, char in enumerate(path):
        if char == "/" and regex.match(path[cut:]):
            return path[:cut] + template
    return str(template)


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped
