"""The payloads of CONTRACT "MQTT": ``<prefix>/<sensor path>`` carrying a number (timestamp =
time of receipt), ``{"ts": TIME, "value": NUMBER}``, or a list of those.

TIME is RFC 3339 or epoch seconds, as in ``POST /readings``; an object without ``ts`` is
stamped with the time of receipt like a plain number. Anything else is ``Unreadable``
with a reason a person can act on; the checks that need the database (an unknown sensor) and
the range checks happen at commit time, in the ingestor, for every source alike.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from shopfloor.connectors.base import Unreadable
from shopfloor.core.paths import path_problem
from shopfloor.readings.columns import text_to_us

US = 1_000_000
MAX_PATH_CACHE = 100_000


class TopicPaths:
    """Sensor path of each topic under the prefix, remembered: a plant has few topics and
    sends on them again and again."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.strip("/") + "/"
        self._cache: dict[str, str | Unreadable] = {}

    def path(self, topic: str) -> str:
        found = self._cache.get(topic)
        if found is None:
            found = self._resolve(topic)
            if len(self._cache) >= MAX_PATH_CACHE:
                self._cache.clear()
            self._cache[topic] = found
        if isinstance(found, Unreadable):
            raise found
        return found

    def _resolve(self, topic: str) -> str | Unreadable:
        if not topic.startswith(self.prefix):
            return Unreadable(f"topic {topic!r} is not under {self.prefix}")
        path = topic[len(self.prefix) :]
        problem = path_problem(path)
        if problem:
            return Unreadable(f"topic {topic!r} does not end in a sensor path: {problem}")
        return path


def decode_readings(payload: bytes, received_us: int) -> tuple[list[int], list[float]]:
    """Times (epoch µs) and values of one payload."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        document = _lenient_number(payload)
    if type(document) is float or type(document) is int:
        return [received_us], [_number(document, "payload")]
    if type(document) is dict:
        return [_time(document, "payload", received_us)], [_value(document, "payload")]
    if type(document) is list:
        if not document:
            raise Unreadable("the list holds no readings")
        times: list[int] = []
        values: list[float] = []
        for index, item in enumerate(document):
            where = f"item {index}"
            if type(item) is not dict:
                raise Unreadable(f"{where} must be an object with ts and value")
            times.append(_time(item, where, received_us))
            values.append(_value(item, where))
        return times, values
    raise Unreadable(
        'the payload must be a number, {"ts": …, "value": …} or a list of those; '
        f"got {_kind(document)}"
    )


def _lenient_number(payload: bytes) -> Any:
    """Plain-text numbers JSON does not allow ("+1.5", " 21.5 ", "1e3\\n" with junk around)."""
    text = payload.decode("utf-8", "replace").strip()
    try:
        return float(text)
    except ValueError:
        shown = text[:60] + ("…" if len(text) > 60 else "")
        raise Unreadable(f"the payload is neither a number nor JSON: {shown!r}") from None


def _value(item: dict[str, Any], where: str) -> float:
    if "value" not in item:
        raise Unreadable(f"{where} has no value")
    return _number(item["value"], f"{where}: value")


def _number(value: Any, where: str) -> float:
    if type(value) is float or type(value) is int:
        number = float(value) if abs(value) < 1e308 else math.inf
        if math.isfinite(number):
            return number
        raise Unreadable(f"{where} must be finite (no NaN or infinity)")
    raise Unreadable(f"{where} must be a number, not {_kind(value)}")


def _time(item: dict[str, Any], where: str, received_us: int) -> int:
    ts = item.get("ts")
    if ts is None:  # no time given: the time of receipt, as for a plain number
        return received_us
    if type(ts) is float or type(ts) is int:
        if not math.isfinite(ts):
            raise Unreadable(f"{where}: ts must be finite")
        return round(ts * US)
    if type(ts) is str:
        us, problem = text_to_us(ts)
        if problem is not None:
            raise Unreadable(f"{where}: {problem}")
        return us
    raise Unreadable(f"{where}: ts must be an RFC 3339 string or epoch seconds")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
