"""The time ranges a sensor's chart offers, and how much data each may carry.

Short ranges show raw readings; longer ones show buckets (min, max, mean, count) read from the
readings' rollups, chosen so that a range never holds more than a couple of thousand points:
a browser draws that at once, and a screen cannot show more anyway. From 30 days on the buckets
are whole hours, read from the hourly rollup (720 rows for 30 days) rather than the per-minute
one (43,200). A sensor fast enough to
have more raw readings than ``MAX_RAW_POINTS`` in a short range gets buckets there too.
"""

from __future__ import annotations

from dataclasses import dataclass

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

MAX_RAW_POINTS = 5_000
MAX_BUCKETS = 2_400
# Bucket widths for fast sensors in short ranges, finest first.
FINE_STEPS_US = (1, 2, 5, 10, 15, 30, 60)


@dataclass(frozen=True, slots=True)
class TimeRange:
    key: str  # as in the URL: ?range=30d
    label: str  # on the picker
    title: str  # in sentences: "the last 30 days"
    span_us: int
    every_us: int | None  # bucket width; None: raw readings

    @property
    def every(self) -> str | None:
        """The width as the API writes it (``every=30m``), or None for raw readings."""
        return None if self.every_us is None else describe_step(self.every_us)


RANGES: tuple[TimeRange, ...] = (
    TimeRange("15m", "15 min", "the last 15 minutes", 15 * MINUTE_US, None),
    TimeRange("1h", "1 h", "the last hour", HOUR_US, None),
    TimeRange("6h", "6 h", "the last 6 hours", 6 * HOUR_US, MINUTE_US),
    TimeRange("24h", "24 h", "the last 24 hours", DAY_US, MINUTE_US),
    TimeRange("7d", "7 d", "the last 7 days", 7 * DAY_US, 10 * MINUTE_US),
    TimeRange("30d", "30 d", "the last 30 days", 30 * DAY_US, HOUR_US),
    TimeRange("90d", "90 d", "the last 90 days", 90 * DAY_US, 3 * HOUR_US),
)
BY_KEY = {r.key: r for r in RANGES}
DEFAULT_RANGE = BY_KEY["1h"]


def range_for(key: str | None) -> TimeRange | None:
    """The range of a URL's ``range=`` (the default when absent), or None when unknown."""
    if not key:
        return DEFAULT_RANGE
    return BY_KEY.get(key)


def fine_step(span_us: int) -> int:
    """The finest bucket width that keeps ``span_us`` within ``MAX_BUCKETS`` buckets."""
    for seconds in FINE_STEPS_US:
        if span_us // (seconds * SECOND_US) <= MAX_BUCKETS:
            return seconds * SECOND_US
    return MINUTE_US


def describe_step(step_us: int) -> str:
    """``30m``, ``1h``, ``10s``: a width as people (and the API's ``every=``) write it."""
    for unit, width in (("d", DAY_US), ("h", HOUR_US), ("m", MINUTE_US), ("s", SECOND_US)):
        if step_us % width == 0:
            return f"{step_us // width}{unit}"
    return f"{step_us / SECOND_US:g}s"


def window(chosen: TimeRange, now_us: int, step_us: int | None) -> tuple[int, int]:
    """``[start, end)`` of a range ending now; with buckets, starting on a bucket's edge."""
    end_us = now_us + 1
    start_us = end_us - chosen.span_us
    if step_us:
        start_us -= start_us % step_us
    return start_us, end_us
