"""Turn a readings payload into columns (numpy arrays) and collect every bad item.

Both request forms — ``{"readings": [{sensor, ts, value}, ...]}`` and the columnar
``{"series": [{sensor, ts: [...], values: [...]}]}`` — flatten into three parallel columns.
Checks run on whole columns; a Python loop touches each item only to pull it out of the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from shopfloor.core.clock import to_epoch_us
from shopfloor.core.paths import path_problem

US = 1_000_000
# Readings outside this window are almost certainly unit mistakes (ms sent as s, and so on).
MIN_TS_US = 0
MAX_TS_US = 4_102_444_800 * US  # 2100-01-01T00:00:00Z
_NUMBER_TYPES = (int, float)


@dataclass
class Columns:
    """Flattened readings with a way back to where each item came from in the request."""

    paths: list[Any]
    ts_raw: list[Any]
    values_raw: list[Any]
    form: str
    # For the series form: which series and which position each flat item came from.
    series_index: np.ndarray | None = None
    position: np.ndarray | None = None
    # For files: the line number of the first item (header and earlier chunks before it).
    first_line: int = 0
    # Columns a reader has already typed (a Parquet timestamp, a numeric CSV column).
    ts_us: np.ndarray | None = None
    values: np.ndarray | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def loc(self, index: int, field_name: str) -> list[Any]:
        if self.form == "readings":
            return ["readings", index, field_name]
        if self.form == "file":
            return ["line", self.first_line + index, field_name]
        assert self.series_index is not None and self.position is not None
        series = int(self.series_index[index])
        if field_name == "sensor":
            return ["series", series, "sensor"]
        column = "values" if field_name == "value" else "ts"
        return ["series", series, column, int(self.position[index])]

    def add_error(self, index: int, field_name: str, msg: str, kind: str) -> None:
        self.errors.append(
            {"loc": self.loc(index, field_name), "index": index, "msg": msg, "type": kind}
        )


class PayloadShapeError(ValueError):
    """The payload is not one of the two accepted forms at all."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("payload shape")
        self.errors = errors


def _shape_error(loc: list[Any], msg: str) -> PayloadShapeError:
    return PayloadShapeError([{"loc": loc, "msg": msg, "type": "shape"}])


def flatten(document: Any) -> Columns:
    if not isinstance(document, dict) or ("readings" in document) == ("series" in document):
        raise _shape_error([], 'body must be an object with exactly one of "readings" or "series"')
    if "readings" in document:
        return _flatten_rows(document["readings"])
    return _flatten_series(document["series"])


def _flatten_rows(items: Any) -> Columns:
    if not isinstance(items, list):
        raise _shape_error(["readings"], "readings must be a list")
    bad = (
        []
        if set(map(type, items)) <= {dict}
        else [i for i, item in enumerate(items) if type(item) is not dict]
    )
    if bad:
        raise PayloadShapeError(
            [
                {
                    "loc": ["readings", i],
                    "index": i,
                    "msg": "item must be an object",
                    "type": "shape",
                }
                for i in bad
            ]
        )
    return Columns(
        paths=[item.get("sensor") for item in items],
        ts_raw=[item.get("ts") for item in items],
        values_raw=[item.get("value") for item in items],
        form="readings",
    )


def _flatten_series(series: Any) -> Columns:
    if not isinstance(series, list):
        raise _shape_error(["series"], "series must be a list")
    paths: list[Any] = []
    ts_raw: list[Any] = []
    values_raw: list[Any] = []
    lengths: list[int] = []
    shape_errors: list[dict[str, Any]] = []
    for s, entry in enumerate(series):
        if type(entry) is not dict:
            shape_errors.append({"loc": ["series", s], "msg": "must be an object", "type": "shape"})
            continue
        ts, values = entry.get("ts"), entry.get("values")
        if not isinstance(ts, list) or not isinstance(values, list):
            shape_errors.append(
                {"loc": ["series", s], "msg": "ts and values must be lists", "type": "shape"}
            )
            continue
        if len(ts) != len(values):
            shape_errors.append(
                {
                    "loc": ["series", s],
                    "msg": f"ts has {len(ts)} items but values has {len(values)}",
                    "type": "shape",
                }
            )
            continue
        paths.extend([entry.get("sensor")] * len(ts))
        ts_raw.extend(ts)
        values_raw.extend(values)
        lengths.append(len(ts))
    if shape_errors:
        raise PayloadShapeError(shape_errors)
    counts = np.asarray(lengths, dtype=np.int64)
    series_index = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts
    position = np.arange(len(series_index)) - np.repeat(starts, counts)
    return Columns(paths, ts_raw, values_raw, "series", series_index, position)


def parse_values(columns: Columns) -> np.ndarray:
    """Values as float64; anything that is not a finite JSON number is an error."""
    if columns.values is not None:
        for i in np.flatnonzero(~np.isfinite(columns.values)):
            columns.add_error(int(i), "value", "value must be a finite number", "non_finite")
        return columns.values
    raw = columns.values_raw
    if set(map(type, raw)) <= {float, int}:
        is_number = np.ones(len(raw), dtype=bool)
        values = _as_float(raw)
    else:
        is_number = np.fromiter(
            (type(v) is float or type(v) is int for v in raw), dtype=bool, count=len(raw)
        )
        values = np.full(len(raw), np.nan)
        for i in np.flatnonzero(~is_number):
            columns.add_error(int(i), "value", "value must be a number", "not_a_number")
        picked = np.flatnonzero(is_number)
        values[picked] = _as_float([raw[i] for i in picked])
    for i in np.flatnonzero(is_number & ~np.isfinite(values)):
        columns.add_error(
            int(i), "value", "value must be finite (no NaN or infinity)", "non_finite"
        )
    return values


def _as_float(raw: list[Any]) -> np.ndarray:
    try:
        return np.asarray(raw, dtype=np.float64)
    except OverflowError:  # an integer too large for a double: treat it as infinite
        return np.asarray([_clamped_float(v) for v in raw], dtype=np.float64)


def _clamped_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf")


def parse_times(columns: Columns) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch (UTC).

    Numbers are epoch seconds; strings are RFC 3339 (a time without an offset is taken as UTC).
    """
    if columns.ts_us is not None:
        bad = (columns.ts_us < MIN_TS_US) | (columns.ts_us >= MAX_TS_US)
        for i in np.flatnonzero(bad):
            columns.add_error(int(i), "ts", "ts must lie between 1970 and 2100", "bad_time")
        return columns.ts_us
    raw = columns.ts_raw
    kinds = {type(t) for t in raw}
    if kinds <= {int, float}:
        return _seconds_to_us(columns, range(len(raw)), raw)
    if kinds == {str}:
        return _texts_to_us(columns, np.arange(len(raw)), raw)
    out = np.zeros(len(raw), dtype=np.int64)
    numeric = [i for i, t in enumerate(raw) if type(t) is int or type(t) is float]
    if numeric:
        out[numeric] = _seconds_to_us(columns, numeric, [raw[i] for i in numeric])
    texts = [i for i, t in enumerate(raw) if type(t) is str]
    if texts:
        out[texts] = _texts_to_us(columns, np.asarray(texts), [raw[i] for i in texts])
    for i, value in enumerate(raw):
        if type(value) not in (int, float, str):
            columns.add_error(i, "ts", "ts must be an RFC 3339 string or epoch seconds", "bad_time")
    return out


def _seconds_to_us(columns: Columns, indices: Any, seconds: list[Any]) -> np.ndarray:
    try:
        arr = np.asarray(seconds, dtype=np.float64)
    except OverflowError:
        arr = np.asarray([_clamped_float(v) for v in seconds], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        us = np.round(arr * US)
        bad = ~np.isfinite(us) | (us < MIN_TS_US) | (us >= MAX_TS_US)
    index_array = np.fromiter(indices, dtype=np.int64, count=len(arr))
    for i in np.flatnonzero(bad):
        columns.add_error(
            int(index_array[i]), "ts", "ts must be epoch seconds between 1970 and 2100", "bad_time"
        )
    us[bad] = 0
    return us.astype(np.int64)


def _texts_to_us(columns: Columns, indices: np.ndarray, texts: list[str]) -> np.ndarray:
    # A batch from many sensors repeats each timestamp once per sensor: parse each text once.
    first_seen: dict[str, int] = {}
    codes = np.fromiter(
        (first_seen.setdefault(text, len(first_seen)) for text in texts), np.int64, len(texts)
    )
    parsed = np.zeros(len(first_seen), dtype=np.int64)
    problems: dict[int, str] = {}
    for code, text in enumerate(first_seen):
        us, problem = text_to_us(text)
        if problem is None:
            parsed[code] = us
        else:
            problems[code] = problem
    if problems:
        for i in np.flatnonzero(np.isin(codes, list(problems))):
            columns.add_error(int(indices[i]), "ts", problems[int(codes[i])], "bad_time")
    return parsed[codes]


def text_to_us(text: str) -> tuple[int, str | None]:
    try:
        # RFC 3339 allows a lower-case "t" and "z"; fromisoformat does not.
        moment = datetime.fromisoformat(text.upper() if "t" in text or "z" in text else text)
    except ValueError:
        return 0, f"ts {text[:40]!r} is not an RFC 3339 time"
    us = to_epoch_us(moment)  # a time without an offset is UTC
    if not MIN_TS_US <= us < MAX_TS_US:
        return 0, "ts must lie between 1970 and 2100"
    return us, None


def check_paths(columns: Columns) -> tuple[np.ndarray, list[str]]:
    """Codes into the list of distinct valid sensor paths; -1 where the path is invalid.

    Each distinct path is checked once: a batch names few sensors many times over.
    """
    first_seen: dict[Any, int] = {}
    paths = columns.paths
    keys = (
        paths if set(map(type, paths)) <= {str} else [p if type(p) is str else None for p in paths]
    )
    raw_codes = np.fromiter(
        (first_seen.setdefault(key, len(first_seen)) for key in keys), np.int64, len(keys)
    )
    distinct: list[str] = []
    remap = np.full(len(first_seen), -1, dtype=np.int64)
    problems: dict[int, str] = {}
    for code, key in enumerate(first_seen):
        problem = path_problem(key) if key is not None else "sensor must be a path string"
        if problem is None:
            remap[code] = len(distinct)
            distinct.append(key)  # type: ignore[arg-type]
        else:
            problems[code] = problem
    codes = remap[raw_codes]
    for index in np.flatnonzero(codes < 0):
        columns.add_error(int(index), "sensor", problems[int(raw_codes[index])], "bad_sensor")
    return codes, distinct
