"""Users: create, list, change, delete, and sign in with a password.

Services take a session and never commit, except ``authenticate_password``: a failed sign-in
must be recorded although the request fails, and the slow password check must not run inside
a write transaction (on SQLite that would hold every writer up for its ~0.2 s), so it owns its
units of work, like ``apikeys.verify_api_key``.

Argon2 runs in a thread (``asyncio.to_thread``) so the event loop keeps serving meanwhile, and,
where the password is known up front, before the session's first statement, so no database
lock is held while it runs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth import audit, lockout, totp
from shopfloor.auth.models import User
from shopfloor.auth.passwords import (
    DUMMY_HASH,
    check_password_policy,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from shopfloor.auth.roles import ROLES
from shopfloor.auth.schemas import EMAIL_PATTERN, USERNAME_PATTERN, UserUpdate
from shopfloor.auth.tokens import revoke_user_tokens
from shopfloor.config import Settings
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, Conflict, NotFound, Unauthorized, ValidationFailed
from shopfloor.storage.lookup import get_or_404

ADMIN = "admin"
USERNAME_RULE = (
    "must be 2 to 64 characters: lower-case letters, digits, '.', '_' or '-', "
    "starting with a letter or digit"
)


def _error(field: str, msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": [field], "msg": msg, "type": kind}


def _new_user_errors(
    username: str, password: str, role: str, email: str | None
) -> list[dict[str, Any]]:
    errors = []
    if not re.fullmatch(USERNAME_PATTERN, username):
        errors.append(_error("username", USERNAME_RULE))
    if role not in ROLES:
        errors.append(_error("role", f"unknown role {role!r}; roles: {', '.join(ROLES)}"))
    if email is not None and not re.fullmatch(EMAIL_PATTERN, email):
        errors.append(_error("email", "is not an e-mail address"))
    errors += [
        _error("password", problem, "password_policy")
        for problem in password_problems(password, username)
    ]
    return errors


# --- management -----------------------------------------------------------------------------


async def create_user(
    session: AsyncSession, *, username: str, password: str, role: str, email: str | None = None
) -> User:
    """A new active user. ValidationFailed names every bad field; a taken name is 409."""
    errors = _new_user_errors(username, password, role, email)
    if errors:
        raise ValidationFailed("the user is not valid", errors=errors)
    password_hash = await asyncio.to_thread(hash_password, password)
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AlreadyExists(f"a user named {username!r} already exists")
    now = utcnow()
    user = User(
        username=username,
        role=role,
        email=email,
        password_hash=password_hash,
        active=True,
        token_version=0,
        totp_enabled=False,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    return await get_or_404(session, User, user_id, "user")


async def find_user(session: AsyncSession, username: str) -> User:
    """By name (the CLI's way to name a user)."""
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user is named {username!r}")
    return user


async def list_users(
    session: AsyncSession, *, after: int | None = None, limit: int = 100
) -> Sequence[User]:
    """Users in creation order (by id), after id ``after``."""
    query = select(User).order_by(User.id).limit(limit)
    if after is not None:
        query = query.where(User.id > after)
    return (await session.scalars(query)).all()


async def update_user(session: AsyncSession, user_id: int, changes: UserUpdate) -> User:
    """Apply the fields sent. A new password or role, or deactivation, signs the user out."""
    user = await get_user(session, user_id)
    fields = changes.model_fields_set
    if changes.password is not None:
        check_password_policy(changes.password, user.username)
    demoted = "role" in fields and changes.role != ADMIN
    deactivated = changes.active is False
    if user.role == ADMIN and user.active and (demoted or deactivated):
        await _keep_an_admin(session, user)
    sign_out = deactivated and user.active
    if "role" in fields and changes.role != user.role:
        user.role = changes.role  # type: ignore[assignment]
        sign_out = True
    if "active" in fields:
        user.active = bool(changes.active)
    if "email" in fields:
        user.email = changes.email
    if changes.password is not None:
        _set_hash(user, await asyncio.to_thread(hash_password, changes.password))
        sign_out = True
    if sign_out:
        await _sign_out_everywhere(session, user)
    await session.flush()
    return user


async def delete_user(session: AsyncSession, user_id: int) -> None:
    """Delete the user and (by cascade) its refresh tokens; its access tokens stop at once."""
    user = await get_user(session, user_id)
    if user.role == ADMIN and user.active:
        await _keep_an_admin(session, user)
    await session.delete(user)
    await session.flush()


async def set_password(session: AsyncSession, username: str, password: str) -> User:
    """An administrator's password reset (the CLI): policy, hash, sign-out everywhere."""
    check_password_policy(password, username)
    password_hash = await asyncio.to_thread(hash_password, password)
    user = await find_user(session, username)
    _set_hash(user, password_hash)
    await _sign_out_everywhere(session, user)
    await session.flush()
    return user


async def change_own_password(session: AsyncSession, user: User, current: str, new: str) -> User:
    """The user's own change: ``current`` must be right. Returns the row from ``session``.

    ``user`` is the caller's row as read before (any session): both Argon2 runs happen before
    ``session`` is touched. Other sign-ins end; the caller hands out fresh tokens.
    """
    if not await asyncio.to_thread(verify_password, current, user.password_hash):
        raise ValidationFailed(
            "the current password is wrong",
            errors=[_error("current_password", "is not your current password")],
        )
    check_password_policy(new, user.username, field="new_password")
    if new == current:
        raise ValidationFailed(
            "the new password is the old one",
            errors=[_error("new_password", "must differ from the current password")],
        )
    password_hash = await asyncio.to_thread(hash_password, new)
    fresh = await session.get(User, user.id, with_for_update=True, populate_existing=True)
    if fresh is None or fresh.password_hash != user.password_hash:
        raise Conflict("The password was changed meanwhile; sign in again.")
    _set_hash(fresh, password_hash)
    await _sign_out_everywhere(session, fresh)
    await session.flush()
    return fresh


def _set_hash(user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    user.password_changed_at = utcnow()


async def _sign_out_everywhere(session: AsyncSession, user: User) -> None:
    """End every access token (version) and refresh token the user holds."""
    user.token_version = (user.token_version or 0) + 1
    await revoke_user_tokens(session, user.id)


async def _keep_an_admin(session: AsyncSession, user: User) -> None:
    """Conflict when ``user`` is the last active admin: nobody could manage users after.

    Locks every active admin's row, in id order so that two such changes at once queue up
    instead of deadlocking, and the second sees what the first did.
    """
    admins = await session.scalars(
        select(User.id)
        .where(User.role == ADMIN, User.active.is_(True))
        .order_by(User.id)
        .with_for_update()
    )
    if not any(admin_id != user.id for admin_id in admins):
        raise Conflict(
            f"{user.username!r} is the last active admin; make another user admin first."
        )


# --- sign-in ----------------------------------------------------------------------------------


async def authenticate_password(
    db: Any,
    username: str,
    password: str,
    totp_code: str | None,
    source: str | None,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> User:
    """The user whose name, password and (when enrolled) TOTP code these are.

    ``db`` is the application's Database. Refuses with 429 while the name or the address is
    locked out, with 401 otherwise; a wrong password or code counts against both.
    """
    moment = now or utcnow()
    name = username.strip().lower()
    keys = lockout.keys_for(name, source)
    async with db.read() as session:
        await lockout.check(session, keys, moment, settings)
        user = await session.scalar(select(User).where(User.username == name))
    if user is not None and not user.active:
        user = None
    stored = user.password_hash if user is not None else DUMMY_HASH
    matched = await asyncio.to_thread(verify_password, password, stored)
    if user is None or not matched:
        async with db.write() as session:
            await _record_failure(session, keys, source, moment, settings)
        raise Unauthorized("Wrong user name or password.", slug="invalid-credentials")
    if user.totp_enabled and not totp_code:
        raise Unauthorized(
            "This account signs in with a second factor: send the current code of its "
            "authenticator app as 'totp'.",
            slug="totp-required",
        )
    new_hash = await asyncio.to_thread(hash_password, password) if needs_rehash(stored) else None
    async with db.write() as session:
        signed_in = await _complete_sign_in(
            session, user, totp_code, new_hash, keys, moment, settings
        )
        if signed_in is None:
            await _record_failure(session, keys, source, moment, settings)
    if signed_in is None:
        raise Unauthorized(
            "The code is not the current one of the authenticator app, or was used already.",
            slug="invalid-totp",
        )
    return signed_in


async def _complete_sign_in(
    session: AsyncSession,
    seen: User,
    totp_code: str | None,
    new_hash: str | None,
    keys: list[str],
    moment: datetime,
    settings: Settings,
) -> User | None:
    """The user, signed in; None when the TOTP code is wrong.

    ``seen`` is the row the password was checked against; one changed meanwhile (a new
    password, deactivation) is refused like a wrong password. A lockout that concurrent
    failures set meanwhile holds too.
    """
    user = await session.get(User, seen.id, with_for_update=True, populate_existing=True)
    if user is None or not user.active or user.password_hash != seen.password_hash:
        raise Unauthorized("Wrong user name or password.", slug="invalid-credentials")
    await lockout.check(session, keys, moment, settings)
    if user.totp_enabled and not totp.verify_totp(user, totp_code, now=moment):
        return None
    await lockout.record_success(session, keys[0])
    audit.record(session, action="auth.login", target=f"user/{user.username}", actor=user.username)
    user.last_login_at = moment
    if new_hash is not None:
        user.password_hash = new_hash
    await session.flush()
    return user


async def _record_failure(
    session: AsyncSession,
    keys: list[str],
    source: str | None,
    moment: datetime,
    settings: Settings,
) -> None:
    """Count the failure (``keys[0]`` is the user's) and put it, and any lockout, on record."""
    locked = await lockout.record_failure(session, keys, moment, settings)
    name = keys[0].removeprefix("user:")
    audit.record(
        session, action="auth.login_failed", target=f"user/{name}", actor=name, source=source
    )
    for key in locked:
        until = moment + timedelta(seconds=settings.lockout_s)
        audit.record(
            session,
            action="auth.locked_out",
            target=lockout.audit_target(key),
            actor=name,
            source=source,
            after={"locked_until": until.isoformat()},
        )
