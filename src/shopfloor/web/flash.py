"""Messages for the next page a browser sees ("Signed out", "Alarm acknowledged").

A route that redirects after a change calls ``flash``; the page rendered next shows the
messages once. They travel in a short-lived signed cookie, so they survive the redirect in
whichever process serves it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from shopfloor.web.cookies import FLASH_COOKIE, delete_cookie, pending_value, set_cookie
from shopfloor.web.signing import purpose_key, sign, unsign

Level = Literal["info", "success", "error"]
LEVELS: tuple[str, ...] = ("info", "success", "error")
FLASH_TTL_S = 120
MAX_MESSAGES = 5


@dataclass(frozen=True, slots=True)
class Flash:
    text: str
    level: str = "info"


def flash(request: Request, text: str, level: Level = "info") -> None:
    """Show ``text`` on the next page this browser renders."""
    messages = [*_read(request, pending_value(request, FLASH_COOKIE)), Flash(text, level)]
    payload = json.dumps([[m.text, m.level] for m in messages[-MAX_MESSAGES:]])
    encoded = base64.urlsafe_b64encode(payload.encode()).decode()
    set_cookie(request, FLASH_COOKIE, sign(_key(request), encoded), FLASH_TTL_S)


def take_flashes(request: Request) -> list[Flash]:
    """The messages waiting for this browser; they are shown once."""
    value = pending_value(request, FLASH_COOKIE)
    if value is None:
        return []
    delete_cookie(request, FLASH_COOKIE)
    return _read(request, value)


def _read(request: Request, value: str | None) -> list[Flash]:
    encoded = unsign(_key(request), value)
    if encoded is None:
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(encoded.encode()))
        return [Flash(str(text), level if level in LEVELS else "info") for text, level in items]
    except (ValueError, TypeError):
        return []


def _key(request: Request) -> bytes:
    return purpose_key(request.app.state.settings, "web.flash")
