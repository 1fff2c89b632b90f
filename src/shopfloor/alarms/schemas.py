"""Request and response bodies of the alarm API, and the parameters of each kind of rule.

``rule_params(kind, params)`` is the one reading of a rule's ``params``: the API validates
with it, and the alarm stage calls it to get the parameters with every default filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shopfloor.alarms.events import SEVERITIES
from shopfloor.core.clock import utcnow
from shopfloor.core.paths import path_problem

Severity = Literal["info", "warning", "critical"]
AlarmState = Literal["open", "acknowledged", "resolved", "closed"]
RuleKind = Literal[
    "threshold", "rate_of_change", "anomaly", "no_data", "spc", "failure_risk", "drift"
]
SPC_RULES = ("WE1", "WE2", "WE3", "WE4", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8")
MAX_SHELF_MINUTES = 7 * 24 * 60

# --- alarms -------------------------------------------------------------------------------


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


class ActionBody(BaseModel):
    """Body of acknowledge and resolve: an optional note stored with the alarm."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, min_length=1, max_length=4000)

    _note = field_validator("note")(_not_blank)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(
        description="who is to take care of the alarm; null unassigns it",
        min_length=1,
        max_length=100,
    )

    _user = field_validator("user")(_not_blank)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)

    _text = field_validator("text")(_not_blank)


class NoteOut(BaseModel):
    id: int
    author: str
    text: str
    created_at: str


class AlarmOut(BaseModel):
    """An alarm as CONTRACT "Alarms" shows it (``publish.alarm_document``); times RFC 3339."""

    model_config = ConfigDict(extra="allow")

    id: int
    sensor: int | None = Field(description="the sensor; null for an SPC or an asset alarm")
    characteristic: int | None = Field(
        default=None, description="the quality characteristic of an SPC alarm; else null"
    )
    asset: int | None = Field(
        default=None, description="the asset of a failure_risk or drift alarm; else null"
    )
    path: str | None = Field(
        description="the sensor's path; for an SPC alarm, the line its measurements were made "
        "on (or parts/<part number>), null when there is none; for an asset alarm, the asset's"
    )
    rule: str
    kind: str
    severity: str
    state: str
    message: str
    value: float | None
    score: float | None
    count: int
    opened_at: str
    last_seen_at: str
    acknowledged_by: str | None
    acknowledged_at: str | None
    resolved_by: str | None
    resolved_at: str | None
    resolution: str | None
    assignee: str | None
    escalation_level: int
    closed_at: str | None
    notes: list[NoteOut]


# --- rule parameters ----------------------------------------------------------------------


def one_step_up(severity: str) -> str:
    """The severity an unattended alarm escalates to by default (critical stays critical)."""
    rank = SEVERITIES.index(severity)
    return SEVERITIES[min(rank + 1, len(SEVERITIES) - 1)]


class LifecycleParams(BaseModel):
    """Parameters every kind of rule accepts: how its alarms clear, escalate and remind."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    clear_seconds: float = Field(default=30.0, ge=0)
    escalate_after_seconds: float = Field(default=900.0, gt=0)
    remind_every_seconds: float = Field(default=1800.0, gt=0)
    # None: one step above the rule's severity.
    escalate_to: Severity | None = None


class ThresholdParams(LifecycleParams):
    """Outside [low, high]; without either, each sensor's own limits (the built-in ``limits``)."""

    low: float | None = None
    high: float | None = None
    deadband: float | None = Field(default=None, ge=0)
    deadband_percent: float | None = Field(default=None, ge=0, le=50)

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, value: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("low")
        if value is not None and low is not None and low >= value:
            raise ValueError("high must be above low")
        return value

    @field_validator("deadband_percent")
    @classmethod
    def _percent_of_a_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return value
        if info.data.get("deadband") is not None:
            raise ValueError("give deadband or deadband_percent, not both")
        if (info.data.get("low") is None) != (info.data.get("high") is None):
            raise ValueError(
                "deadband_percent is a share of high - low: give both low and high, or neither "
                "to use each sensor's limits"
            )
        return value


class RateOfChangeParams(LifecycleParams):
    max_per_second: float = Field(gt=0)


class AnomalyParams(LifecycleParams):
    threshold: float = Field(default=0.5, gt=0, le=1)


class NoDataParams(LifecycleParams):
    intervals: int = Field(default=5, ge=1)


class SpcParams(LifecycleParams):
    """Evaluated by the SPC stage: Western Electric ``WE1``-``WE4`` and Nelson ``N1``-``N8``."""

    rules: list[str] | None = None

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: list[str] | None) -> list[str] | None:
        unknown = [rule for rule in value or () if rule not in SPC_RULES]
        if unknown:
            raise ValueError(f"unknown SPC rule(s) {unknown}; known: {', '.join(SPC_RULES)}")
        return value


class FailureRiskParams(LifecycleParams):
    """Evaluated by the health stage on assets whose attributes name a failure model: the
    alarm opens at ``threshold`` and clears below ``clear_below`` (default 80 % of it), so a
    risk hovering at the threshold does not flap."""

    threshold: float = Field(default=0.5, gt=0, lt=1)
    clear_below: float | None = Field(default=None, gt=0, lt=1)

    @field_validator("clear_below")
    @classmethod
    def _below_threshold(cls, value: float | None, info: ValidationInfo) -> float | None:
        threshold = info.data.get("threshold")
        if value is not None and threshold is not None and value > threshold:
            raise ValueError("clear_below must not be above threshold")
        return value


class DriftParams(LifecycleParams):
    """Evaluated on a schedule for each model an asset names: its inputs over the last
    ``window_seconds`` against the model's training reference. A feature drifts when its PSI
    passes ``psi`` or its Kolmogorov-Smirnov p-value falls below ``ks_pvalue``; the alarm opens
    when at least ``min_features`` drift."""

    psi: float = Field(default=0.2, gt=0)
    ks_pvalue: float = Field(default=0.01, gt=0, lt=1)
    min_features: int = Field(default=1, ge=1)
    window_seconds: float = Field(default=86_400.0, gt=0)
    min_samples: int = Field(default=100, ge=10)


PARAMS_BY_KIND: dict[str, type[LifecycleParams]] = {
    "threshold": ThresholdParams,
    "rate_of_change": RateOfChangeParams,
    "anomaly": AnomalyParams,
    "no_data": NoDataParams,
    "spc": SpcParams,
    "failure_risk": FailureRiskParams,
    "drift": DriftParams,
}


def params_model(kind: str) -> type[LifecycleParams]:
    try:
        return PARAMS_BY_KIND[kind]
    except KeyError:
        raise ValueError(f"unknown rule kind {kind!r}") from None


def rule_params(
    kind: str, params: Mapping[str, Any] | None, severity: str | None = None
) -> dict[str, Any]:
    """``params`` of a rule of ``kind``, validated, with every default filled in.

    With ``severity`` (the rule's), a missing ``escalate_to`` becomes one step above it;
    without, it stays None, meaning "one step above the alarm's severity". A threshold rule
    with neither deadband gets ``deadband`` 0. Raises ``pydantic.ValidationError`` when the
    parameters do not fit the kind, and ``ValueError`` for an unknown kind.
    """
    values = params_model(kind).model_validate(dict(params or {})).model_dump()
    if values["escalate_to"] is None and severity is not None:
        values["escalate_to"] = one_step_up(severity)
    if kind == "threshold" and values["deadband"] is None and values["deadband_percent"] is None:
        values["deadband"] = 0.0
    return values


def stored_params(kind: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters as given (validated and normalised), without the defaults."""
    model = params_model(kind).model_validate(dict(params or {}))
    return model.model_dump(exclude_unset=True)


# --- rules --------------------------------------------------------------------------------


def _checked_scope(value: str | None) -> str | None:
    if value is not None and value != "" and (problem := path_problem(value)):
        raise ValueError(problem)
    return value


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null")
    return value


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=100, examples=["oil-too-hot"])
    scope: str = Field(
        default="",
        description='a path: the rule covers it and everything under it; "" is the whole plant',
        examples=["acme/press-line"],
    )
    kind: RuleKind
    params: dict[str, Any] = Field(default_factory=dict)
    severity: Severity
    for_seconds: float = Field(default=0.0, ge=0)
    enabled: bool = True

    _name = field_validator("name")(_not_blank)
    _scope = field_validator("scope")(_checked_scope)


class RuleUpdate(BaseModel):
    """Fields to change; ``params``, when given, replaces the parameters as a whole."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    scope: str | None = None
    kind: RuleKind | None = None
    params: dict[str, Any] | None = None
    severity: Severity | None = None
    for_seconds: float | None = Field(default=None, ge=0)
    enabled: bool | None = None

    _name = field_validator("name")(_not_blank)
    _scope = field_validator("scope")(_checked_scope)
    _present = field_validator(
        "name", "scope", "kind", "params", "severity", "for_seconds", "enabled"
    )(_not_null)


class RuleOut(BaseModel):
    id: int
    name: str
    scope: str
    kind: str
    params: dict[str, Any] = Field(description="the parameters with every default filled in")
    severity: str
    for_seconds: float
    enabled: bool
    created_at: datetime
    updated_at: datetime


# --- shelves ------------------------------------------------------------------------------


class ShelfCreate(BaseModel):
    """A maintenance window from now: ``until`` a time, or for ``minutes``."""

    model_config = ConfigDict(extra="forbid")

    scope: str = Field(examples=["acme/press-line/press-1"])
    until: datetime | None = Field(
        default=None, description="RFC 3339; in the future; without an offset, UTC"
    )
    minutes: int | None = Field(default=None, ge=1, le=MAX_SHELF_MINUTES)
    reason: str = Field(min_length=1, max_length=500, examples=["bearing replacement"])

    _reason = field_validator("reason")(_not_blank)

    @field_validator("scope")
    @classmethod
    def _scope_is_a_path(cls, value: str) -> str:
        if problem := path_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("until")
    @classmethod
    def _until_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value <= utcnow():
            raise ValueError("until must be in the future")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _one_end(self) -> ShelfCreate:
        if (self.until is None) == (self.minutes is None):
            raise ValueError("give either until (a time) or minutes, not both and not neither")
        return self


class ShelfOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime
    suppressed: int
    active: bool
