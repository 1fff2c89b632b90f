"""A second factor: time-based one-time passwords (RFC 6238), as authenticator apps show them.

Enrolment is two steps, so that nobody is locked out by a secret their app never stored:
``begin_enrolment`` makes the secret (shown once, as text and as an ``otpauth://`` URI for a QR
code), ``confirm_enrolment`` switches it on once the app's first code checks out.

A code is accepted once: the time step it belongs to is remembered, and that step and every
earlier one are refused from then on, so a code read over someone's shoulder is spent already.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

from shopfloor.auth.models import User
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import Conflict, ValidationFailed

ISSUER = "shopfloor"
# One step (30 s) either side of now: phones whose clocks drift a little still work.
VALID_WINDOW = 1
DIGITS = 6


def begin_enrolment(user: User) -> tuple[str, str]:
    """A new secret for ``user`` (not yet enabled) and its ``otpauth://`` URI."""
    if user.totp_enabled:
        raise Conflict("Two-factor sign-in is already on; turn it off before enrolling again.")
    secret = pyotp.random_base32()
    user.totp_secret = secret
    user.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return secret, uri


def confirm_enrolment(user: User, code: str, *, now: datetime | None = None) -> None:
    """Turn the second factor on once ``code`` from the new secret checks out."""
    if user.totp_enabled:
        raise Conflict("Two-factor sign-in is already on.")
    if not user.totp_secret:
        raise Conflict("Start the enrolment first (POST /auth/totp).")
    if not verify_totp(user, code, now=now, enrolling=True):
        raise _wrong_code()
    user.totp_enabled = True


def disable(user: User, code: str, *, now: datetime | None = None) -> None:
    """Turn the second factor off; a valid code proves the caller holds it."""
    if not user.totp_enabled:
        raise Conflict("Two-factor sign-in is not on.")
    if not verify_totp(user, code, now=now):
        raise _wrong_code()
    reset(user)


def reset(user: User) -> None:
    """Forget the second factor (an administrator's way back in for a lost phone)."""
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None


def verify_totp(
    user: User, code: str | None, *, now: datetime | None = None, enrolling: bool = False
) -> bool:
    """True when ``code`` is the user's current code and has not been used before.

    An accepted code's time step is stored on ``user``, which the caller commits.
    """
    if not (user.totp_enabled or enrolling) or not user.totp_secret or not code:
        return False
    code = code.replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret)
    current = totp.timecode(now or utcnow())
    last = user.totp_last_step
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if last is not None and step <= last:
            continue
        if hmac.compare_digest(code, totp.generate_otp(step)):
            user.totp_last_step = step
            return True
    return False


def _wrong_code() -> ValidationFailed:
    msg = "is not the current code of your authenticator app, or was used already"
    return ValidationFailed(
        "the code is not valid", errors=[{"loc": ["code"], "msg": msg, "type": "value_error"}]
    )
