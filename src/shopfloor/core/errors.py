"""Error types. Each carries an HTTP status and a stable ``type`` slug.

One handler (``core.problems``) renders them as RFC 9457 problem documents, so services raise
these and never build HTTP responses themselves.
"""

from __future__ import annotations

from typing import Any

TYPE_BASE = "https://shopfloor.dev/problems/"


class ShopfloorError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers

    @property
    def type_uri(self) -> str:
        return TYPE_BASE + self.slug


class BadRequest(ShopfloorError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedBody(ShopfloorError):
    status, slug, title = 400, "malformed-body", "Request body is not valid JSON"


class Unauthorized(ShopfloorError):
    """No credentials, or credentials that do not hold (bad, expired, revoked)."""

    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, *, slug: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})
        if slug:
            self.slug = slug


class Forbidden(ShopfloorError):
    status, slug, title = 403, "forbidden", "Not allowed"


class TooManyRequests(ShopfloorError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})
        self.retry_after_s = max(1, retry_after_s)


class NotFound(ShopfloorError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ShopfloorError):
    status, slug, title = 409, "conflict", "Conflict"


class AlreadyExists(Conflict):
    slug, title = "already-exists", "Already exists"


class IllegalTransition(Conflict):
    slug, title = "illegal-transition", "Illegal state transition"


class PayloadTooLarge(ShopfloorError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class ValidationFailed(ShopfloorError):
    status, slug, title = 422, "validation-error", "Validation failed"


class IdempotencyKeyReused(ShopfloorError):
    status, slug, title = (
        422,
        "idempotency-key-reused",
        "Idempotency key reused with another request",
    )


class Unavailable(ShopfloorError):
    status, slug, title = 503, "unavailable", "Service unavailable"
