"""Times and durations as the administration pages show them: UTC, and how long ago."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shopfloor.core.clock import utcnow


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(moment: datetime | None) -> str:
    """``2025-11-29 10:15 UTC``; empty for None."""
    if moment is None:
        return ""
    return _aware(moment).strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else _aware(moment).isoformat().replace("+00:00", "Z")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``12 days ago``; ``in 2 h`` for the future."""
    if moment is None:
        return ""
    seconds = ((now or utcnow()) - _aware(moment)).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "in a moment" if future else "just now"
    for size, unit in ((86_400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            count = round(seconds / size)
            if unit == "day":
                unit = "day" if count == 1 else "days"
            return f"in {count} {unit}" if future else f"{count} {unit} ago"
    return "in a moment" if future else "just now"


def duration(seconds: float | None) -> str:
    """``90`` → ``1 min 30 s``; ``3600`` → ``1 h``."""
    if seconds is None:
        return ""
    total = round(float(seconds))
    if total < 60:
        return f"{float(seconds):g} s"
    parts = []
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if total >= size:
            parts.append(f"{total // size} {unit}")
            total %= size
    return " ".join(parts[:2])


def number(value: Any) -> str:
    """A parameter as typed: ``1.5``, ``10`` (not ``10.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


HELPERS = {"when": when, "iso": iso, "ago": ago, "duration": duration, "number": number}
