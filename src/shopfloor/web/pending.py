"""A sign-in waiting for its second factor.

The password was right and the account needs an authenticator code. The name and password are
kept, encrypted, in a short-lived cookie until the code comes, so that the second step signs in
through exactly the same check as the first (lockouts, rate limits, the audit trail) without the
password ever being written back into a page.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request

from shopfloor.config import Settings
from shopfloor.web.cookies import PENDING_COOKIE, delete_cookie, set_cookie
from shopfloor.web.signing import purpose_key

PENDING_TTL_S = 300


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    username: str
    password: str


def _fernet(settings: Settings) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(purpose_key(settings, "web.pending-sign-in")))


def remember(request: Request, settings: Settings, pending: PendingSignIn) -> None:
    payload = json.dumps({"u": pending.username, "p": pending.password}).encode()
    token = _fernet(settings).encrypt(payload).decode()
    set_cookie(request, PENDING_COOKIE, token, PENDING_TTL_S)


def recall(request: Request, settings: Settings) -> PendingSignIn | None:
    """The sign-in waiting for a code; None when there is none or it is too old."""
    token = request.cookies.get(PENDING_COOKIE)
    if not token:
        return None
    try:
        payload = json.loads(_fernet(settings).decrypt(token.encode(), ttl=PENDING_TTL_S))
        return PendingSignIn(username=str(payload["u"]), password=str(payload["p"]))
    except (InvalidToken, ValueError, KeyError, TypeError):
        return None


def forget(request: Request) -> None:
    if PENDING_COOKIE in request.cookies:
        delete_cookie(request, PENDING_COOKIE)
