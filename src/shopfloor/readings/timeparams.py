"""Query-string times and intervals: RFC 3339 or epoch seconds; ``every=`` like 1m, 1h, 1d."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np

from shopfloor.core.clock import to_epoch_us
from shopfloor.core.errors import ValidationFailed
from shopfloor.readings.columns import MAX_TS_US, US

_EVERY = re.compile(r"(\d{1,4})([mhd])")
_UNIT_US = {"m": 60 * US, "h": 3600 * US, "d": 86_400 * US}


def _invalid(param: str, msg: str) -> ValidationFailed:
    return ValidationFailed(
        msg, errors=[{"loc": ["query", param], "msg": msg, "type": "value_error"}]
    )


def parse_time_param(param: str, raw: str | None) -> int | None:
    """Microseconds since the epoch, or None when the parameter is absent."""
    if raw is None or raw == "":
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if not np.isfinite(seconds):
            raise _invalid(param, f"{param} must be finite")
        return max(0, min(round(seconds * US), MAX_TS_US))
    moment = _fromisoformat(raw)
    if moment is None:
        raise _invalid(param, f"{param} must be an RFC 3339 time or epoch seconds")
    return max(0, min(to_epoch_us(moment), MAX_TS_US))


def _fromisoformat(raw: str) -> datetime | None:
    # An unescaped "+02:00" offset arrives in a query string as " 02:00".
    head, sep, tail = raw.rpartition(" ")
    for candidate in (raw, f"{head}+{tail}" if sep else None):
        if candidate:
            try:
                return datetime.fromisoformat(candidate.upper())
            except ValueError:
                continue
    return None


def parse_every(raw: str) -> int:
    match = _EVERY.fullmatch(raw)
    if not match or int(match.group(1)) == 0:
        raise _invalid(
            "every", "every must be a positive count of m, h or d, for example 1m, 1h, 1d"
        )
    return int(match.group(1)) * _UNIT_US[match.group(2)]


def format_times(epoch_us: np.ndarray) -> list[str]:
    """RFC 3339 UTC strings, at the coarsest precision that loses nothing."""
    if not len(epoch_us):
        return []
    unit = "s" if not (epoch_us % US).any() else "ms" if not (epoch_us % 1000).any() else "us"
    stamps = np.asarray(epoch_us, dtype=np.int64).astype("datetime64[us]")
    return np.datetime_as_string(stamps, unit=unit, timezone="UTC").tolist()
