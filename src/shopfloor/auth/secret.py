"""The key access tokens are signed with.

``SHOPFLOOR_SECRET_KEY`` when set (every process of a plant deployment must share it). Without
it, a laptop install still works out of the box: a random key is made once and kept in the data
directory, readable by its owner only, so tokens survive a restart. The key is never logged.
"""

from __future__ import annotations

import os
import secrets
import time
from functools import cache
from pathlib import Path

import structlog

from shopfloor.config import Settings
from shopfloor.core.errors import ShopfloorError

log = structlog.get_logger("shopfloor.auth")
KEY_FILE = "secret_key"
# HS256 wants at least as many key bytes as the hash has (RFC 7518 §3.2).
MIN_KEY_LENGTH = 32
# Another process may have created the file and not yet written it: how long to wait for that.
_WRITE_WAIT_S = 2.0

_cache: dict[Path, str] = {}


def signing_key(settings: Settings) -> str:
    """The signing key: the configured one, else the data directory's (made on first use)."""
    if settings.secret_key:
        if len(settings.secret_key) < MIN_KEY_LENGTH:
            _warn_short_key()
        return settings.secret_key
    # Looked up on every authenticated request: keyed by the setting as given, so that the
    # file system is consulted once, not per request.
    key = _cache.get(settings.data_dir)
    if key is None:
        path = (settings.data_dir / KEY_FILE).resolve()
        key = _cache[settings.data_dir] = _load_or_create(path)
        if not settings.is_embedded_database:
            # Processes on other machines have other data directories, hence other keys.
            log.warning(
                "SHOPFLOOR_SECRET_KEY is not set: tokens hold only in processes sharing the "
                "data directory; set one key for every process of a shared database",
                key_file=str(path),
            )
    return key


@cache
def _warn_short_key() -> None:
    """Once per process: the key works, but tokens signed with it are easier to forge."""
    log.warning("SHOPFLOOR_SECRET_KEY is short", minimum_length=MIN_KEY_LENGTH)


def _load_or_create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting at once, exactly one creates the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _read(path: Path) -> str:
    deadline = time.monotonic() + _WRITE_WAIT_S
    while True:
        key = path.read_text().strip()
        if key:
            return key
        if time.monotonic() > deadline:
            raise ShopfloorError(
                f"{path} is empty; delete it (signed-in users will have to sign in again) "
                "or set SHOPFLOOR_SECRET_KEY"
            )
        time.sleep(0.05)
