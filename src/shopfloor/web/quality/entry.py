"""The inspection entry form: what an inspector typed, read into the items the inspection API
takes, and the API's errors put back next to the fields they are about.

Measurements: one value field per characteristic of the lot's part (``value-<id>``), and the
unit serial and subgroup they share; blank values are skipped. A decimal comma is read as a
point (``10,02``), as tablets in many countries type it. Defects: one per submission.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SHARED_FIELDS = ("unit_serial", "subgroup")
DEFECT_FIELDS = ("defect_type", "severity", "count", "location", "note", "unit_serial")
FRIENDLY = {
    "float_parsing": "Not a number",
    "float_type": "Not a number",
    "finite_number": "Not a finite number",
    "int_parsing": "Not a whole number",
    "int_from_float": "Not a whole number",
    "string_pattern_mismatch": "Letters, digits and . _ - only, starting with a letter or digit",
    "missing": "Required",
}


def value_field(characteristic_id: int) -> str:
    return f"value-{characteristic_id}"


def defect_field(name: str) -> str:
    return f"defect_{name}"


@dataclass
class Entry:
    """A form as it is shown: what was typed (shown again after an error), and the errors by
    field; ``message`` is about the form as a whole, ``recorded`` what the last submission
    stored."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    recorded: str | None = None

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.message)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(text: str) -> str:
    """``10,02`` → ``10.02`` (a lone decimal comma); anything else as typed."""
    if text.count(",") == 1 and "." not in text:
        return text.replace(",", ".")
    return text


@dataclass
class MeasurementBatch:
    entry: Entry
    items: list[dict[str, Any]]  # the API's measurement items, in order
    fields: list[str]  # the value field of each item


def read_measurements(
    form: Mapping[str, Any], characteristic_ids: Sequence[int]
) -> MeasurementBatch:
    entry = Entry()
    for name in SHARED_FIELDS:
        entry.values[name] = _text(form, name)
    serial = entry.values["unit_serial"] or None
    subgroup = entry.values["subgroup"] or None
    items, fields = [], []
    for characteristic_id in characteristic_ids:
        name = value_field(characteristic_id)
        typed = entry.values[name] = _text(form, name)
        if not typed:
            continue
        item: dict[str, Any] = {"characteristic_id": characteristic_id, "value": _number(typed)}
        if serial is not None:
            item["unit_serial"] = serial
        if subgroup is not None:
            item["subgroup"] = subgroup
        items.append(item)
        fields.append(name)
    if not items:
        entry.message = "Enter at least one measured value."
    return MeasurementBatch(entry, items, fields)


def read_defect(form: Mapping[str, Any]) -> tuple[Entry, dict[str, Any]]:
    """The defect typed; a new code (``defect_new_type``) wins over the one chosen."""
    entry = Entry()
    for name in (*DEFECT_FIELDS, "new_type"):
        entry.values[defect_field(name)] = _text(form, defect_field(name))
    item: dict[str, Any] = {}
    code = entry.values[defect_field("new_type")] or entry.values[defect_field("defect_type")]
    item["defect_type"] = code
    for name in ("severity", "location", "note", "unit_serial"):
        if entry.values[defect_field(name)]:
            item[name] = entry.values[defect_field(name)]
    if entry.values[defect_field("count")]:
        item["count"] = entry.values[defect_field("count")]
    if not code:
        entry.errors[defect_field("defect_type")] = "Choose a defect type or enter a new code"
    return entry, item


def place_errors(
    entry: Entry, errors: Sequence[Mapping[str, Any]], field_of: Mapping[tuple[int, str], str]
) -> None:
    """Put each API error (``loc: [index, field]``) next to its form field; those that belong
    to no field go to the form's message."""
    unplaced = []
    for error in errors:
        loc = list(error.get("loc") or [])
        index = loc[0] if loc and isinstance(loc[0], int) else None
        name = str(loc[1]) if len(loc) > 1 else ""
        message = friendly(error)
        target = field_of.get((index, name)) if index is not None else None
        if target is None:
            unplaced.append(message)
        else:
            entry.errors.setdefault(target, message)
    if unplaced:
        entry.message = "; ".join(dict.fromkeys(unplaced))


def friendly(error: Mapping[str, Any]) -> str:
    message = FRIENDLY.get(str(error.get("type", "")), str(error.get("msg", "Not valid")))
    return message[:1].upper() + message[1:]


def measurement_fields(fields: Sequence[str]) -> dict[tuple[int, str], str]:
    """Where the errors of each measurement item go: its value field, or the shared ones."""
    placed: dict[tuple[int, str], str] = {}
    for index, name in enumerate(fields):
        placed[(index, "value")] = name
        placed[(index, "characteristic_id")] = name
        for shared in SHARED_FIELDS:
            placed[(index, shared)] = shared
    return placed


def defect_fields() -> dict[tuple[int, str], str]:
    return {(0, name): defect_field(name) for name in DEFECT_FIELDS}


_SERIAL_TAIL = re.compile(r"^(.*?)(\d+)$")


def next_serial(serial: str) -> str:
    """The serial after ``serial`` (``U-007`` → ``U-008``), so the next unit needs no typing;
    a serial that does not end in digits is left for the inspector to change."""
    match = _SERIAL_TAIL.match(serial)
    if match is None:
        return serial
    head, digits = match.groups()
    return f"{head}{int(digits) + 1:0{len(digits)}d}"
