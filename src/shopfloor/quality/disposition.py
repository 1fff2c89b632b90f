"""What a completed inspection decides for its lot: accept, reject, rework or hold, with the
reasons a person reads and a quality score. Pure: no I/O.

The rules, in order (the first that applies decides):

1. **reject** when any critical defect was found ("1 critical defect: crack at weld seam").
2. Count the **nonconforming units** of the sample: the distinct unit serials with a
   measurement outside [lsl, usl] (a measurement without a serial is a unit of its own), plus
   the units with a major (or critical) defect (one without a serial counts ``count`` units).
   Minor defects are listed but do not count against the AQL (in Z1.4 practice they have an
   AQL of their own, far looser).
   More than the plan's acceptance number Ac (that is, Re or more) →
   - **rework** when the rejection comes from major defects only (no measurement out of
     specification) and those major defects number at most 2*Ac + 1: few enough that sorting
     and repairing the lot, then inspecting it again, is worth it;
   - **reject** otherwise.
   A rejection stands even when fewer units than the plan asks for were sampled: more units can
   only find more.
3. **hold** when fewer units were sampled (the inspection's ``sample_size``) than the plan needs
   (its sample size, or the whole lot when that is smaller): "sampled 20 units; plan J needs 80".
4. **accept** otherwise; minor defects, if any, are listed in the reasons.

The plan is ANSI/ASQ Z1.4 single sampling, normal inspection, general level II, for the lot's
quantity and the part's AQL (``sampling.plan_for``); the first reason always states it.

Quality score, 0 to 100: 100 minus 50 per critical defect, 10 per major defect, 2 per minor
defect (each counted ``count`` times), minus 500 / sample_size per unit nonconforming by
measurement alone (the sample's percent nonconforming, five-fold: a sample 20 % out of
specification scores 0 on that alone), clipped to [0, 100] and rounded to one decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shopfloor.quality.sampling import SamplingPlan

CRITICAL_PENALTY, MAJOR_PENALTY, MINOR_PENALTY = 50.0, 10.0, 2.0
PERCENT_NONCONFORMING_WEIGHT = 5.0
MAX_LISTED = 10  # nonconforming units named in the reasons; the rest are counted


@dataclass(frozen=True, slots=True)
class Observation:
    """A measurement as the disposition sees it."""

    characteristic: str
    value: float
    conforming: bool | None  # None: the characteristic has no limit to judge by
    unit_serial: str | None = None
    lsl: float | None = None
    usl: float | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A defect as the disposition sees it."""

    name: str  # the defect type's name in the catalogue
    severity: str
    count: int = 1
    location: str | None = None
    unit_serial: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    disposition: str
    reasons: list[str]
    quality_score: float
    nonconforming_units: int
    plan: SamplingPlan


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe_defect(finding: Finding) -> str:
    where = f" at {finding.location}" if finding.location else ""
    times = f" ({finding.count})" if finding.count > 1 else ""
    return f"{finding.name}{where}{times}"


def _defects_line(severity: str, findings: Sequence[Finding]) -> str:
    total = sum(finding.count for finding in findings)
    listed = "; ".join(describe_defect(finding) for finding in findings)
    return f"{_plural(total, severity + ' defect')}: {listed}"


def _out_of_spec(observation: Observation) -> str:
    unit = f" {observation.unit}" if observation.unit else ""
    if observation.usl is not None and observation.value > observation.usl:
        side = f"above USL {observation.usl:g}{unit}"
    elif observation.lsl is not None and observation.value < observation.lsl:
        side = f"below LSL {observation.lsl:g}{unit}"
    else:
        side = "outside its specification"
    return f"{observation.characteristic} {observation.value:g}{unit} {side}"


@dataclass
class _Units:
    """The sample's nonconforming units, by what made them so."""

    by_measurement: dict[str, list[str]]  # unit → what was out of specification
    by_defect: dict[str, list[str]]  # unit → its major and critical defects

    @property
    def count(self) -> int:
        return len(self.by_measurement.keys() | self.by_defect.keys())

    def measurement_only(self) -> int:
        """Units nonconforming by measurement alone (their defects are penalised already)."""
        return len(self.by_measurement.keys() - self.by_defect.keys())

    def listed(self) -> list[str]:
        units = list(dict.fromkeys([*self.by_measurement, *self.by_defect]))
        lines = []
        for unit in units[:MAX_LISTED]:
            found = self.by_measurement.get(unit, []) + self.by_defect.get(unit, [])
            lines.append(f"{unit}: {', '.join(found)}")
        if len(units) > MAX_LISTED:
            lines.append(f"and {len(units) - MAX_LISTED} more")
        return lines


def _nonconforming_units(observations: Sequence[Observation], defects: Sequence[Finding]) -> _Units:
    by_measurement: dict[str, list[str]] = {}
    for index, observation in enumerate(observations):
        if observation.conforming is False:
            unit = (
                f"unit {observation.unit_serial}"
                if observation.unit_serial
                else (f"unmarked unit #{index + 1} (measurement)")
            )
            by_measurement.setdefault(unit, []).append(_out_of_spec(observation))
    by_defect: dict[str, list[str]] = {}
    for index, finding in enumerate(defects):
        if finding.unit_serial:
            by_defect.setdefault(f"unit {finding.unit_serial}", []).append(
                f"{finding.severity} {describe_defect(finding)}"
            )
            continue
        # Without a serial each occurrence may be on another unit: count them all.
        for occurrence in range(finding.count):
            unit = f"unmarked unit #{index + 1}.{occurrence + 1} ({finding.severity} defect)"
            single = Finding(finding.name, finding.severity, 1, finding.location)
            by_defect[unit] = [f"{finding.severity} {describe_defect(single)}"]
    return _Units(by_measurement, by_defect)


def quality_score(
    sample_size: int, findings: Sequence[Finding], measurement_only_units: int
) -> float:
    """100 minus the penalties of the module's docstring, clipped to [0, 100]."""
    weights = {"critical": CRITICAL_PENALTY, "major": MAJOR_PENALTY, "minor": MINOR_PENALTY}
    penalty = sum(weights.get(f.severity, 0.0) * f.count for f in findings)
    percent = 100.0 * measurement_only_units / max(sample_size, 1)
    penalty += PERCENT_NONCONFORMING_WEIGHT * percent
    return round(min(100.0, max(0.0, 100.0 - penalty)), 1)


def decide(
    plan: SamplingPlan,
    sample_size: int,
    observations: Sequence[Observation],
    findings: Sequence[Finding],
) -> Decision:
    """The lot's disposition by the rules of this module's docstring."""
    by_severity = {
        severity: [f for f in findings if f.severity == severity]
        for severity in ("critical", "major", "minor")
    }
    units = _nonconforming_units(observations, [*by_severity["critical"], *by_severity["major"]])
    score = quality_score(sample_size, findings, units.measurement_only())
    disposition, reasons = _verdict(plan, sample_size, units, by_severity)
    if disposition == "accept" and not observations and not findings:
        reasons.append("no measurement and no defect was recorded")
    return Decision(disposition, [plan.describe(), *reasons], score, units.count, plan)


def _verdict(
    plan: SamplingPlan,
    sample_size: int,
    units: _Units,
    by_severity: dict[str, list[Finding]],
) -> tuple[str, list[str]]:
    if by_severity["critical"]:
        return "reject", [_defects_line("critical", by_severity["critical"])]
    found = (
        f"{_plural(units.count, 'nonconforming unit')} in a sample of {sample_size} "
        f"(Ac {plan.accept}, Re {plan.reject})"
    )
    details = units.listed()
    if units.count > plan.accept:
        return _rejected(plan, units, by_severity["major"], found, details)
    if by_severity["minor"]:
        minors = _defects_line("minor", by_severity["minor"])
        details.append(f"{minors} (not counted against the AQL)")
    needed = plan.units_to_inspect
    if sample_size < needed:
        whole = " (the whole lot)" if plan.inspect_all else ""
        short = f"sampled {sample_size} units; plan {plan.code_letter} needs {needed}{whole}"
        return "hold", [found, *details, short]
    return "accept", [f"{found}: within the acceptance number", *details]


def _rejected(
    plan: SamplingPlan, units: _Units, majors: Sequence[Finding], found: str, details: list[str]
) -> tuple[str, list[str]]:
    """Reject, or rework when only few enough major defects made the lot fail."""
    major_count = sum(finding.count for finding in majors)
    limit = 2 * plan.accept + 1
    over = f"{found}: more than the acceptance number"
    if not units.by_measurement and major_count <= limit:
        rework = (
            f"rework: every nonconforming unit has only major defects, and the "
            f"{_plural(major_count, 'major defect')} are at most 2*Ac + 1 = {limit}; "
            "sort and repair the lot, then inspect it again"
        )
        return "rework", [over, *details, rework]
    return "reject", [over, *details]
