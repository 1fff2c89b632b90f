"""The alarm rule form: one set of parameter fields per kind of rule, read and checked as the API.

Parameters are named per kind in the form (``threshold.low``, ``anomaly.threshold``) since two
kinds may share a name with different meanings; the service's problems with ``params.low`` are
shown at the field of the rule's kind. What is left empty is not sent, so the kind's default
applies (and keeps applying should it change); the defaults show as placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from shopfloor.alarms.events import SEVERITIES
from shopfloor.alarms.models import AlarmRule
from shopfloor.alarms.rules_service import checked_params
from shopfloor.alarms.schemas import (
    PARAMS_BY_KIND,
    SPC_RULES,
    LifecycleParams,
    RuleCreate,
    RuleUpdate,
)
from shopfloor.core.errors import ShopfloorError
from shopfloor.web.admin.display import number
from shopfloor.web.admin.forms import FormState, checked, optional, pydantic_errors, sentence

LIFE = "life"


@dataclass(frozen=True, slots=True)
class ParamField:
    name: str
    label: str
    hint: str = ""
    input: str = "number"  # number, or checks (several of ``options``), or severity
    options: tuple[str, ...] = ()


KIND_LABELS = {
    "threshold": "Threshold",
    "rate_of_change": "Rate of change",
    "anomaly": "Anomaly",
    "no_data": "No data",
    "spc": "SPC",
    "failure_risk": "Failure risk",
    "drift": "Model drift",
}
KIND_NOTES = {
    "threshold": "A reading outside its limits: the rule's, else each sensor's own.",
    "rate_of_change": "A reading changing faster than allowed.",
    "anomaly": "The sensor's detector scores its readings as anomalous.",
    "no_data": "A sensor that sends nothing for several of its sampling intervals.",
    "spc": "A quality characteristic's control chart breaks a Western Electric or Nelson test.",
    "failure_risk": "An asset's predicted failure risk passes a threshold.",
    "drift": "A model's live inputs drift away from the data it was trained on.",
}
KIND_PARAMS: dict[str, tuple[ParamField, ...]] = {
    "threshold": (
        ParamField("low", "Low limit", "Empty for each sensor's own low limit."),
        ParamField("high", "High limit", "Empty for each sensor's own high limit."),
        ParamField("deadband", "Deadband", "Clears only once back inside by this much."),
        ParamField("deadband_percent", "Deadband, % of the range", "Instead: 0 to 50."),
    ),
    "rate_of_change": (
        ParamField("max_per_second", "Largest change per second", "In the sensor's unit."),
    ),
    "anomaly": (ParamField("threshold", "Score threshold", "Above 0, at most 1."),),
    "no_data": (ParamField("intervals", "Silent intervals", "Sampling intervals, at least 1."),),
    "spc": (ParamField("rules", "Tests", "None ticked: every test.", "checks", SPC_RULES),),
    "failure_risk": (
        ParamField("threshold", "Risk threshold", "Between 0 and 1."),
        ParamField("clear_below", "Clears below", "Empty: 80 % of the threshold."),
    ),
    "drift": (
        ParamField("psi", "PSI above", "Population stability index of a feature."),
        ParamField("ks_pvalue", "KS p-value below", "Kolmogorov-Smirnov test, 0 to 1."),
        ParamField("min_features", "Drifting features", "At least this many, to alarm."),
        ParamField("window_seconds", "Window (s)", "Live inputs of this long a past."),
        ParamField("min_samples", "Least samples", "Fewer live inputs: no judgement."),
    ),
}
LIFECYCLE_PARAMS: tuple[ParamField, ...] = (
    ParamField("clear_seconds", "Clears after (s)", "The condition must be gone this long."),
    ParamField("escalate_after_seconds", "Escalates after (s)", "Unacknowledged this long."),
    ParamField("remind_every_seconds", "Reminds every (s)", "While it stays open."),
    ParamField("escalate_to", "Escalates to", "Empty: one step above.", "severity"),
)
RULE_LABELS = {
    "name": "Name",
    "scope": "Scope",
    "kind": "Kind",
    "severity": "Severity",
    "for_seconds": "For (s)",
    "params": "Parameters",
    **{f"{k}.{p.name}": p.label for k, fields in KIND_PARAMS.items() for p in fields},
    **{f"{LIFE}.{p.name}": p.label for p in LIFECYCLE_PARAMS},
}


def default_of(kind: str, name: str) -> str:
    """The parameter's default as a placeholder; empty when it has none."""
    model = PARAMS_BY_KIND.get(kind, LifecycleParams)
    info = model.model_fields.get(name) or LifecycleParams.model_fields.get(name)
    if info is None or info.default is PydanticUndefined or info.default is None:
        return ""
    return number(info.default)


def _in_kind(kind: str) -> Any:
    """Rename the service's ``params.x`` to the input of ``x`` in this kind's fields."""
    own = {p.name for p in KIND_PARAMS.get(kind, ())}
    life = {p.name for p in LIFECYCLE_PARAMS}

    def rename(key: str) -> str:
        if not key.startswith("params."):
            return key
        name = key.removeprefix("params.").split(".")[0]
        if name in own:
            return f"{kind}.{name}"
        return f"{LIFE}.{name}" if name in life else "params"

    return rename


def rule_form(form_id: str, rule: AlarmRule | None = None) -> FormState:
    """The form of a new rule, or one filled with ``rule``'s settings and parameters as set."""
    if rule is None:
        values: dict[str, Any] = {"kind": "threshold", "severity": "warning", "enabled": "on"}
        return FormState(form_id, values, labels=RULE_LABELS)
    values = {
        "name": rule.name,
        "scope": rule.scope,
        "kind": rule.kind,
        "severity": rule.severity,
        "for_seconds": number(rule.for_seconds) if rule.for_seconds else "",
    }
    own = {p.name for p in KIND_PARAMS.get(rule.kind, ())}
    for name, value in (rule.params or {}).items():
        key = f"{rule.kind}.{name}" if name in own else f"{LIFE}.{name}"
        values[key] = value if isinstance(value, list) else number(value)
    return FormState(form_id, values, labels=RULE_LABELS)


def _params(form: FormState, kind: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    fields = [(kind, p) for p in KIND_PARAMS.get(kind, ())]
    fields += [(LIFE, p) for p in LIFECYCLE_PARAMS]
    for prefix, param in fields:
        key = f"{prefix}.{param.name}"
        if param.input == "checks":
            chosen = form.values_of(key)
            if chosen:
                params[param.name] = chosen
        elif (value := optional(form.values, key)) is not None:
            params[param.name] = value
    return params


def _settings(form: FormState) -> dict[str, Any]:
    values: Mapping[str, Any] = form.values
    settings: dict[str, Any] = {
        "name": form.value("name"),
        "scope": form.value("scope"),
        "kind": form.value("kind"),
        "severity": form.value("severity"),
    }
    if (for_seconds := optional(values, "for_seconds")) is not None:
        settings["for_seconds"] = for_seconds
    return settings


def _check_params(form: FormState, kind: str, params: dict[str, Any]) -> None:
    if kind not in PARAMS_BY_KIND:
        return
    try:
        checked_params(kind, params)
    except ShopfloorError as exc:
        form.add(exc.errors or [], _in_kind(kind))


def new_rule(form: FormState) -> RuleCreate | None:
    """The body of ``POST /alarm-rules``; None when ``form`` has problems (all of them noted)."""
    kind = str(form.value("kind"))
    params = _params(form, kind)
    body = None
    try:
        body = RuleCreate(**_settings(form), params=params, enabled=checked(form.values, "enabled"))
    except ValidationError as exc:
        form.add(pydantic_errors(exc), _in_kind(kind))
    _check_params(form, kind, params)
    return None if form.failed else body


def rule_changes(form: FormState) -> RuleUpdate | None:
    """The body of ``PATCH /alarm-rules/{id}`` with every setting the form shows."""
    kind = str(form.value("kind"))
    params = _params(form, kind)
    body = None
    try:
        body = RuleUpdate(**{"for_seconds": 0, **_settings(form)}, params=params)
    except ValidationError as exc:
        form.add(pydantic_errors(exc), _in_kind(kind))
    _check_params(form, kind, params)
    return None if form.failed else body


def refuse_rule(form: FormState, exc: ShopfloorError) -> FormState:
    if exc.status == 409 and not exc.errors:
        form.errors["name"] = sentence(exc.detail)
        return form
    return form.refuse(exc, rename=_in_kind(str(form.value("kind"))))


def lifecycle_open(form: FormState) -> bool:
    """Whether the form's lifecycle part starts open: something is set there, or wrong."""
    prefix = f"{LIFE}."
    return any(key.startswith(prefix) for key in form.errors) or any(
        key.startswith(prefix) and value not in (None, "") for key, value in form.values.items()
    )


def params_summary(rule: AlarmRule) -> list[str]:
    """What a rule's card says of its parameters: those set, by their labels."""
    labels = {p.name: p.label for p in (*KIND_PARAMS.get(rule.kind, ()), *LIFECYCLE_PARAMS)}
    lines = []
    for name, value in (rule.params or {}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else number(value)
        lines.append(f"{labels.get(name, name)} {shown}")
    if rule.kind == "threshold" and not {"low", "high"} & set(rule.params or {}):
        lines.insert(0, "each sensor's own limits")
    return lines


SEVERITY_OPTIONS = [(s, s) for s in SEVERITIES]
