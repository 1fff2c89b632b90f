"""How the alarm pages write times and numbers. ``alarms.js`` keeps relative times current."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from shopfloor.core.clock import rfc3339, utcnow


def ago(moment: datetime, now: datetime | None = None) -> str:
    """``just now``, ``5 s ago``, ``3 min ago``, ``2 h ago``, ``4 d ago`` (as ``alarms.js``)."""
    seconds = max(0.0, ((now or utcnow()) - moment).total_seconds())
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def exact(moment: datetime) -> str:
    """The full time, in UTC (the browser adds its own time zone's reading)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: float | None) -> str:
    """Up to four significant digits; a dash for none."""
    if value is None:
        return "\N{EN DASH}"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3e}"
    text = f"{value:.4g}"
    return text if "e" not in text else f"{value:.0f}"


def helpers() -> dict[str, Any]:
    """What the alarm templates call, added to each render's context."""
    return {"ago": ago, "exact": exact, "number": number, "iso": rfc3339}
