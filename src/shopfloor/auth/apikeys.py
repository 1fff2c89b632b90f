"""API keys for machines and integrations: create, list, revoke, and check one on a request.

A key reads ``sf_<prefix>_<secret>``. The prefix (8 lower-case letters and digits) is public: it
is stored as is, so a key is found by an index lookup, and shown in lists so people can tell
keys apart. Only the SHA-256 digest of the whole key is stored; the key itself is shown once,
when it is created. A plain digest is enough because the secret is 32 random bytes: there is no
dictionary to guess from, so a slow password hash would only cost time on every request.

Services take a session and never commit; ``verify_api_key`` is the exception that owns its
units of work, because the authentication guard calls it before the request has a session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth.models import ApiKey
from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import SCOPES
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, NotFound, ValidationFailed
from shopfloor.storage.lookup import get_or_404, is_row_id

if TYPE_CHECKING:
    from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.auth.apikeys")

KEY_MARK = "sf"
PREFIX_LENGTH = 8
SECRET_BYTES = 32
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_KEY = re.compile(rf"{KEY_MARK}_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{20,128}})")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
# A key used again within this long keeps its recorded last use: an ingest key posting every
# second would otherwise write a row per request.
TOUCH_INTERVAL = timedelta(seconds=60)


# --- the key itself -----------------------------------------------------------------------


def new_key() -> tuple[str, str]:
    """A fresh ``(prefix, raw key)``."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"{KEY_MARK}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_prefix(raw_key: str) -> str | None:
    """The prefix of a well-formed key, else None (whatever a client may have sent)."""
    match = _KEY.fullmatch(raw_key) if isinstance(raw_key, str) else None
    return match.group(1) if match else None


# --- checks shared by the API schema and the CLI --------------------------------------------


def name_problem(name: str) -> str | None:
    if not NAME_PATTERN.fullmatch(name):
        return (
            "must be 1 to 100 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return None


def scope_problem(scope: str) -> str | None:
    if scope not in SCOPES:
        return f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}"
    return None


def _checked(name: str, scopes: Iterable[str], expires_at: datetime | None) -> list[str]:
    """The scopes without repeats, or ValidationFailed naming every bad field or item."""
    scopes = list(scopes)
    errors: list[dict[str, Any]] = []
    if problem := name_problem(name):
        errors.append({"loc": ["name"], "msg": problem, "type": "value_error"})
    if not scopes:
        errors.append({"loc": ["scopes"], "msg": "give at least one scope", "type": "too_short"})
    for index, scope in enumerate(scopes):
        if problem := scope_problem(scope):
            errors.append({"loc": ["scopes", index], "msg": problem, "type": "value_error"})
    if expires_at is not None and _aware(expires_at) <= utcnow():
        errors.append(
            {"loc": ["expires_at"], "msg": "must be in the future", "type": "value_error"}
        )
    if errors:
        raise ValidationFailed("the API key is not valid", errors=errors)
    return list(dict.fromkeys(scopes))


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- the service ----------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession,
    *,
    name: str,
    scopes: Iterable[str],
    created_by: str | None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its raw form, which is never available again once this returns."""
    clean_scopes = _checked(name, scopes, expires_at)
    if await session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise AlreadyExists(f"an API key is already named {name!r}")
    prefix, raw_key = await _unused_prefix_key(session)
    key = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=key_digest(raw_key),
        scopes=clean_scopes,
        created_by=created_by,
        created_at=utcnow(),
        expires_at=_aware(expires_at) if expires_at is not None else None,
    )
    session.add(key)
    await session.flush()
    return key, raw_key


async def _unused_prefix_key(session: AsyncSession) -> tuple[str, str]:
    # 36^8 prefixes make a clash unlikely, not impossible; the unique index catches a race.
    for _ in range(5):
        prefix, raw_key = new_key()
        if await session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            return prefix, raw_key
    raise RuntimeError("could not draw an unused API key prefix")


async def list_api_keys(
    session: AsyncSession, *, after: int | None = None, limit: int = 100
) -> Sequence[ApiKey]:
    """Keys in creation order (by id), revoked and expired ones too, after id ``after``."""
    query = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if after is not None:
        query = query.where(ApiKey.id > after)
    return (await session.scalars(query)).all()


async def get_api_key(session: AsyncSession, key_id: int) -> ApiKey:
    return await get_or_404(session, ApiKey, key_id, "API key")


async def find_api_key(session: AsyncSession, name_or_id: str) -> ApiKey:
    """By name, else by id: names may be all digits, so a name wins over an id."""
    key = await session.scalar(select(ApiKey).where(ApiKey.name == name_or_id))
    if key is not None:
        return key
    if name_or_id.isascii() and name_or_id.isdigit() and is_row_id(int(name_or_id)):
        return await get_api_key(session, int(name_or_id))
    raise NotFound(f"no API key is named {name_or_id!r} or has that id")


async def revoke_api_key(session: AsyncSession, key_id: int) -> ApiKey:
    """Revoke the key from now on. Revoking again keeps the first time: it is when it stopped."""
    key = await get_api_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key


# --- authentication ----------------------------------------------------------------------


async def verify_api_key(db: Database, raw_key: str) -> Principal | None:
    """The principal of a key that holds now; None for an unknown, wrong, revoked or expired key.

    Never raises for anything the client sent, so the caller can answer 401 for every None
    alike; a database that cannot be read at all still raises (that is the server's fault).
    """
    prefix = key_prefix(raw_key)
    if prefix is None:
        return None
    async with db.read() as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    # The prefix is public, so only the digest comparison has to run in constant time.
    if key is None or not hmac.compare_digest(key.key_hash, key_digest(raw_key)):
        return None
    now = utcnow()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL:
        await _record_use(db, key.id, now)
    return Principal(kind="api_key", id=key.id, name=key.name, scopes=frozenset(key.scopes))


async def _record_use(db: Database, key_id: int, now: datetime) -> None:
    """Best effort: a key that holds must not fail its request because bookkeeping failed."""
    stale = now - TOUCH_INTERVAL
    try:
        async with db.write() as session:
            # Conditional, so that requests of one key racing here (in several processes) write
            # the row once, not once each.
            await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key_id,
                    or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
    except Exception as exc:
        log.warning("could not record an API key's use", api_key_id=key_id, error=str(exc))
