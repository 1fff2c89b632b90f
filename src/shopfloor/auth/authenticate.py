"""Who sent a request: a bearer access token, an API key, or nobody.

Called once per request by the central guard (``auth.guard``), which decides what the answer
allows. Credentials that are present but do not hold are refused here (401), never treated as
anonymous: a client with an expired token must learn that, not get a 403 for "nobody".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shopfloor.auth.apikeys import verify_api_key
from shopfloor.auth.models import User
from shopfloor.auth.principal import Principal
from shopfloor.auth.secret import signing_key
from shopfloor.auth.tokens import decode_access_token
from shopfloor.config import Settings
from shopfloor.core.errors import Unauthorized

BEARER = "bearer"


async def authenticate(db: Any, settings: Settings, headers: Mapping[str, str]) -> Principal | None:
    """The principal of the request's credentials; None when it sent none.

    ``headers`` has lower-case names (Starlette's ``request.headers`` does). An
    ``Authorization`` header wins over ``X-API-Key`` when both are sent.
    """
    authorization = headers.get("authorization")
    if authorization is not None:
        return await _user_of(db, settings, _bearer_token(authorization))
    raw_key = headers.get("x-api-key")
    if raw_key is not None:
        return await _key_of(db, raw_key)
    return None


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER or not token or " " in token:
        raise Unauthorized(
            "The Authorization header must read 'Bearer <access token>'.", slug="invalid-token"
        )
    return token


async def _user_of(db: Any, settings: Settings, token: str) -> Principal:
    claims = decode_access_token(signing_key(settings), token)
    async with db.read() as session:
        user = await session.get(User, int(claims["sub"]))
    if user is None or not user.active or user.token_version != claims.get("ver", 0):
        # Deleted, deactivated, or signed out everywhere since (new password or role).
        raise Unauthorized(
            "The access token is no longer valid; sign in again.", slug="invalid-token"
        )
    return Principal(kind="user", id=user.id, name=user.username, role=user.role)


async def _key_of(db: Any, raw_key: str) -> Principal:
    principal = await verify_api_key(db, raw_key.strip())
    if principal is None:
        raise Unauthorized("invalid API key", slug="invalid-api-key")
    return principal
