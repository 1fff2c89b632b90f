"""Keys for the dashboard's own signatures, derived from the platform's signing key.

One key per purpose, so that a value signed for one cookie can never pass for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from shopfloor.auth.secret import signing_key
from shopfloor.config import Settings


def purpose_key(settings: Settings, purpose: str) -> bytes:
    """32 bytes for ``purpose`` (HMAC-SHA256 of the purpose under the signing key)."""
    return hmac.new(signing_key(settings).encode(), purpose.encode(), hashlib.sha256).digest()


def sign(key: bytes, value: str) -> str:
    """``value.signature``: readable, tamper-evident (not secret)."""
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return f"{value}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def unsign(key: bytes, signed: str | None) -> str | None:
    """The value of ``sign(key, value)``; None for anything else."""
    if not signed or "." not in signed:
        return None
    value, _, _ = signed.rpartition(".")
    return value if hmac.compare_digest(sign(key, value), signed) else None
