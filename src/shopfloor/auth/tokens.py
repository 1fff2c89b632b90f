"""Access tokens (signed JWTs, minutes) and refresh tokens (opaque, days, rotated on each use).

An access token is checked without the database's help except for one row: the user, whose
``token_version`` must still match (a password or role change, or deactivation, raises it and so
ends every older token at once).

A refresh token is a random string; only its SHA-256 digest is stored, with the *family* it
belongs to: the token handed out at sign-in and every token that replaced it. Each use rotates
it. A token used a second time means two parties hold it (one of them stole it), so the whole
family is revoked and both have to sign in again (OAuth 2.0 Security BCP, refresh token rotation).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth import audit
from shopfloor.auth.models import RefreshToken, User
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import Unauthorized

ALGORITHM = "HS256"
ACCESS = "access"
REQUIRED_CLAIMS = ["exp", "iat", "sub"]


# --- access tokens --------------------------------------------------------------------------


def issue_access_token(key: str, user: User, ttl_s: int, *, now: datetime | None = None) -> str:
    """A signed access token for ``user``, valid ``ttl_s`` seconds."""
    issued = now or utcnow()
    claims = {
        "sub": str(user.id),
        "name": user.username,
        "role": user.role,
        "ver": user.token_version or 0,
        "typ": ACCESS,
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_access_token(key: str, token: str) -> dict[str, Any]:
    """The claims of a token this server signed and that holds now, else Unauthorized.

    Only HS256 is accepted, whatever the token's header says: a token claiming ``alg: none`` or
    another algorithm is refused, not trusted.
    """
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired.", slug="token-expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The access token is not valid.", slug="invalid-token") from None
    if claims.get("typ") != ACCESS or not _is_user_id(claims["sub"]):
        raise Unauthorized("The access token is not valid.", slug="invalid-token")
    if not isinstance(claims.get("ver", 0), int):
        raise Unauthorized("The access token is not valid.", slug="invalid-token")
    return claims


def _is_user_id(sub: Any) -> bool:
    return isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 10


# --- refresh tokens -------------------------------------------------------------------------


def refresh_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class RefreshTokenReused(Unauthorized):
    """A rotated or revoked refresh token came back: its family has been revoked.

    The caller must still commit the session it was raised in (catch it inside the unit of
    work, re-raise after), or the revocation is rolled back with everything else.
    """

    def __init__(self, family_id: str) -> None:
        super().__init__(
            "This refresh token was already used; every token of its sign-in is revoked. "
            "Sign in again.",
            slug="refresh-token-reused",
        )
        self.family_id = family_id


async def issue_refresh_token(
    session: AsyncSession,
    user: User,
    ttl_s: int,
    family_id: str | None = None,
    source: str | None = None,
    *,
    now: datetime | None = None,
) -> str:
    """A new refresh token for ``user``, in ``family_id`` or in a new family (a sign-in)."""
    issued = now or utcnow()
    raw = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or uuid.uuid4().hex,
            token_hash=refresh_digest(raw),
            issued_at=issued,
            expires_at=issued + timedelta(seconds=ttl_s),
            source=source[:100] if source else None,
        )
    )
    await session.flush()
    return raw


async def rotate_refresh_token(
    session: AsyncSession,
    raw: str,
    ttl_s: int,
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> tuple[User, str]:
    """Spend ``raw``: its user and a new token of the same family.

    Unknown, expired, or a user no longer active: Unauthorized. Spent or revoked already:
    the family is revoked in ``session`` and RefreshTokenReused raised (see its docstring).
    """
    moment = now or utcnow()
    token = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == refresh_digest(raw)).with_for_update()
    )
    if token is None:
        raise Unauthorized("The refresh token is not valid.", slug="invalid-token")
    if token.rotated_at is not None or token.revoked_at is not None:
        await revoke_family_id(session, token.family_id, now=moment)
        await _record_reuse(session, token, source)
        raise RefreshTokenReused(token.family_id)
    if token.expires_at <= moment:
        raise Unauthorized("The refresh token has expired; sign in again.", slug="token-expired")
    user = await session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("The refresh token is not valid.", slug="invalid-token")
    token.rotated_at = moment
    new_raw = await issue_refresh_token(
        session, user, ttl_s, token.family_id, source or token.source, now=moment
    )
    return user, new_raw


async def _record_reuse(session: AsyncSession, token: RefreshToken, source: str | None) -> None:
    user = await session.get(User, token.user_id)
    name = user.username if user is not None else str(token.user_id)
    audit.record(
        session,
        action="auth.refresh_reused",
        target=f"user/{name}",
        actor=name,
        source=source,
        after={"family": token.family_id, "issued_to": token.source},
    )


async def revoke_family_id(
    session: AsyncSession, family_id: str, *, now: datetime | None = None
) -> None:
    """Revoke every token of the family that is not revoked yet."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


async def revoke_family(session: AsyncSession, raw: str) -> bool:
    """Sign out: revoke the family of ``raw``. False when the token is unknown."""
    family_id = await session.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == refresh_digest(raw))
    )
    if family_id is None:
        return False
    await revoke_family_id(session, family_id)
    return True


async def revoke_user_tokens(
    session: AsyncSession, user_id: int, *, now: datetime | None = None
) -> None:
    """Revoke every refresh token of a user (password or role change, deactivation)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
