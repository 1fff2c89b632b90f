"""Request and response bodies of the quality API."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shopfloor.core.paths import path_problem
from shopfloor.quality.sampling import standard_aql
from shopfloor.storage.lookup import MAX_ID

CharacteristicKind = Literal["variable", "attribute"]
InspectionKind = Literal["incoming", "in_process", "final"]
InspectionState = Literal["planned", "in_progress", "completed", "cancelled"]
Severity = Literal["minor", "major", "critical"]
Disposition = Literal["accept", "reject", "rework", "hold"]

MAX_ITEMS = 10_000  # measurements or defects per request
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _row_id(description: str | None = None) -> Any:
    return Field(ge=1, le=MAX_ID, description=description)


def _aql(value: float | None) -> float | None:
    return None if value is None else standard_aql(value)


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _line(value: str | None) -> str | None:
    if value is not None and (problem := path_problem(value)):
        raise ValueError(problem)
    return value


# --- parts ------------------------------------------------------------------------------


class PartCreate(_Body):
    part_number: str = Field(min_length=1, max_length=100, examples=["BRK-1042"])
    name: str = Field(min_length=1, max_length=200, examples=["Brake bracket"])
    revision: str | None = Field(default=None, max_length=50, examples=["C"])
    aql: float = Field(
        default=1.0,
        description="The AQL (ANSI/ASQ Z1.4, percent nonconforming) its lots are judged by for "
        "major nonconformities; one of the standard's AQLs (0.010 … 1000).",
    )

    _aql = field_validator("aql")(_aql)


class PartUpdate(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    revision: str | None = Field(default=None, max_length=50)
    aql: float | None = None

    _aql = field_validator("aql")(_aql)


class PartOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    part_number: str
    name: str
    revision: str | None
    aql: float
    created_at: datetime
    updated_at: datetime


# --- characteristics ---------------------------------------------------------------------


class CharacteristicFields(_Body):
    unit: str | None = Field(default=None, max_length=32, examples=["mm"])
    lsl: float | None = Field(default=None, description="Lower specification limit")
    usl: float | None = Field(default=None, description="Upper specification limit")
    target: float | None = Field(default=None, description="Nominal; within [lsl, usl]")

    _finite = field_validator("lsl", "usl", "target")(_finite)


class CharacteristicCreate(CharacteristicFields):
    part_id: int = _row_id()
    name: str = Field(min_length=1, max_length=200, examples=["bore diameter"])
    kind: CharacteristicKind = "variable"


class CharacteristicUpdate(CharacteristicFields):
    """Fields to change; ``null`` clears a limit or the target."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: CharacteristicKind | None = None


class CharacteristicOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    part_id: int
    name: str
    unit: str | None
    kind: str
    lsl: float | None
    usl: float | None
    target: float | None
    created_at: datetime
    updated_at: datetime


# --- lots ---------------------------------------------------------------------------------


class LotCreate(_Body):
    lot_number: str = Field(min_length=1, max_length=100, examples=["L-2026-0412"])
    part_id: int = _row_id()
    quantity: int = Field(gt=0, le=MAX_ID)
    line: str | None = Field(
        default=None,
        description="Where the lot was made: an ISA-95 path (a line, or a step of it)",
        examples=["acme/stamping/line-1"],
    )

    _line = field_validator("line")(_line)


class LotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    lot_number: str
    part_id: int
    quantity: int
    line: str | None
    created_at: datetime
    updated_at: datetime


# --- defect catalogue --------------------------------------------------------------------


class DefectTypeCreate(_Body):
    code: str = Field(min_length=1, max_length=50, pattern=CODE_PATTERN, examples=["crack"])
    name: str | None = Field(default=None, max_length=200, examples=["Crack"])
    default_severity: Severity = "minor"


class DefectTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    default_severity: str
    created_at: datetime


# --- inspections -------------------------------------------------------------------------


class InspectionCreate(_Body):
    lot_id: int = _row_id()
    kind: InspectionKind
    sample_size: int = Field(ge=1, le=MAX_ID, description="Units taken from the lot")


class InspectionOut(BaseModel):
    id: int
    lot_id: int
    lot_number: str
    part_id: int
    line: str | None
    kind: str
    sample_size: int
    state: str
    inspector: str | None = Field(description="Who started it")
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    disposition: Disposition | None
    reasons: list[str]
    quality_score: float | None = Field(description="0 to 100, set on completion")
    plan: dict[str, Any] | None = Field(description="The Z1.4 plan the lot was judged by")
    nonconforming_units: int | None
    measurement_count: int
    defect_count: int = Field(description="Defects found (the sum of their counts)")
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class MeasurementIn(_Body):
    characteristic_id: int = _row_id("A characteristic of the lot's part")
    value: float = Field(allow_inf_nan=False)
    unit_serial: str | None = Field(default=None, min_length=1, max_length=100)
    subgroup: int | None = Field(default=None, ge=0, le=MAX_ID)
    measured_at: datetime | None = Field(
        default=None, description="When it was measured (RFC 3339); default: when received"
    )


class MeasurementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    inspection_id: int
    characteristic_id: int
    value: float
    unit_serial: str | None
    subgroup: int | None
    conforming: bool | None = Field(description="Within [lsl, usl]; null without limits")
    measured_at: datetime
    created_at: datetime


class MeasurementsOut(BaseModel):
    accepted: int
    items: list[MeasurementOut]


class DefectIn(_Body):
    defect_type: str = Field(
        min_length=1,
        max_length=50,
        pattern=CODE_PATTERN,
        description="A code of the defect catalogue; an unknown code is added to it",
    )
    severity: Severity | None = Field(
        default=None, description="Default: the catalogue's severity of the defect type"
    )
    count: int = Field(default=1, ge=1, le=1_000_000)
    location: str | None = Field(default=None, max_length=200, examples=["weld seam"])
    note: str | None = Field(default=None, max_length=2000)
    unit_serial: str | None = Field(default=None, min_length=1, max_length=100)


class DefectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    inspection_id: int
    defect_type: str
    severity: str
    count: int
    location: str | None
    note: str | None
    unit_serial: str | None
    created_at: datetime


class DefectsOut(BaseModel):
    accepted: int
    items: list[DefectOut]
    new_defect_types: list[str] = Field(description="Codes added to the catalogue by this call")


# --- analytics --------------------------------------------------------------------------


class ParetoItem(BaseModel):
    defect_type: str = Field(description="The defect type's code")
    name: str
    count: int
    percent: float
    cumulative_percent: float


class ParetoOut(BaseModel):
    items: list[ParetoItem]
    total: int


class YieldFigures(BaseModel):
    lots_inspected: int
    lots_first_pass: int = Field(description="Lots accepted at their first completed inspection")
    first_pass_yield: float | None = Field(description="lots_first_pass / lots_inspected")
    units_sampled: int
    units_nonconforming: int
    unit_yield: float | None = Field(description="Conforming share of the first samples")


class LineYield(YieldFigures):
    line: str


class LotYield(BaseModel):
    lot_id: int
    lot_number: str
    part_id: int
    line: str | None
    inspection_id: int = Field(description="The lot's first completed inspection")
    completed_at: datetime
    disposition: str | None
    first_pass: bool
    sampled: int
    nonconforming_units: int
    unit_yield: float | None


class YieldOut(YieldFigures):
    under: str | None
    lines: list[LineYield] = Field(description="Per line path (each a step of under)")
    steps: list[str] = Field(description="The steps of the line under (with under only)")
    rolled_throughput_yield: float | None = Field(
        description="The product of the steps' first-pass yields (with under only)"
    )
    lots: list[LotYield] = Field(description="Newest first; at most 1000")
    lots_truncated: bool


# --- list bodies, item by item -------------------------------------------------------------

Item = TypeVar("Item", bound=BaseModel)


def parse_items(document: Any, model: type[Item]) -> tuple[list[Item | None], list[dict[str, Any]]]:
    """Each item of a JSON list validated on its own: the valid ones, and an error for every
    problem of every bad item, located by index (``loc: [index, field]``, ``index``)."""
    if not isinstance(document, list):
        return [], [{"loc": [], "msg": "the body must be a JSON list", "type": "list_type"}]
    if not document:
        return [], [{"loc": [], "msg": "the list is empty", "type": "too_short"}]
    if len(document) > MAX_ITEMS:
        msg = f"the list holds {len(document)} items; at most {MAX_ITEMS} are allowed"
        return [], [{"loc": [], "msg": msg, "type": "too_long"}]
    items: list[Item | None] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(document):
        try:
            items.append(model.model_validate(raw))
        except ValidationError as exc:
            items.append(None)
            errors.extend(
                {
                    "loc": [index, *err["loc"]],
                    "index": index,
                    "msg": err["msg"],
                    "type": err["type"],
                }
                for err in exc.errors()
            )
    return items, errors


def item_error(index: int, field: str, msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": [index, field], "index": index, "msg": msg, "type": kind}
