"""The capability box: Cp, Cpk, Pp, Ppk of a characteristic, and what they mean in plain words."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from shopfloor.quality.spc_service import CapabilityStudy

# The usual thresholds (AIAG): 1.33 for an established process, 1.67 for a new or critical one.
CAPABLE, HIGHLY_CAPABLE, MARGINAL = 1.33, 1.67, 1.0
OFF_CENTRE_SHARE = 0.15  # Cpk this far below Cp: centring the process would pay off
UNSTABLE_WARNING = "the process is not in statistical control"


@dataclass(frozen=True)
class Verdict:
    key: str  # highly_capable, capable, marginal, not_capable
    label: str  # "capable (Cpk ≥ 1.33)"
    meaning: str


@dataclass
class CapabilityView:
    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None
    in_control: bool
    broken_rules: list[str]
    verdict: Verdict
    expected_ppm: float | None  # out of specification, from the overall spread
    notes: list[str] = field(default_factory=list)


def verdict_of(cpk: float) -> Verdict:
    if cpk >= HIGHLY_CAPABLE:
        return Verdict(
            "highly_capable",
            "highly capable (Cpk ≥ 1.67)",
            "The spread fits the tolerance with room to spare, enough even for a critical "
            "characteristic.",
        )
    if cpk >= CAPABLE:
        return Verdict(
            "capable",
            "capable (Cpk ≥ 1.33)",
            "The spread fits the tolerance with the usual margin of one sigma on the nearer side.",
        )
    if cpk >= MARGINAL:
        return Verdict(
            "marginal",
            "marginal (1.00 ≤ Cpk < 1.33)",
            "The process fits the tolerance barely: a small shift or a wider spread makes "
            "parts out of specification. Watch it closely.",
        )
    return Verdict(
        "not_capable",
        "not capable (Cpk < 1.00)",
        "The natural spread reaches beyond a specification limit: the process makes parts "
        "out of specification. Reduce the variation or centre the process, and sort the parts.",
    )


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def expected_ppm(mean: float, sigma: float, lsl: float | None, usl: float | None) -> float | None:
    """Parts per million out of specification for a normal distribution of this mean and spread."""
    if sigma <= 0 or not math.isfinite(sigma):
        return None
    below = _phi((lsl - mean) / sigma) if lsl is not None else 0.0
    above = 1.0 - _phi((usl - mean) / sigma) if usl is not None else 0.0
    return 1e6 * (below + above)


def capability_view(
    study: CapabilityStudy, lsl: float | None, usl: float | None, chart_label: str
) -> CapabilityView:
    """``chart_label``: the name of the chart sigma within and control come from ("I-MR")."""
    result = study.result
    index = result.cpk if result.cpk is not None else result.ppk
    verdict = verdict_of(index if index is not None else 0.0)
    notes = []
    if not study.in_control:
        verdict = Verdict(
            "unstable",
            f"not in control, so not predictable ({verdict.label} so far)",
            f"Special causes are at work ({', '.join(study.broken_rules)} broken on the "
            f"{chart_label} chart): the indices describe the parts measured so far, not the "
            "next ones. Find and remove the causes, then judge the capability again.",
        )
    if (
        result.cp is not None
        and result.cpk is not None
        and result.cp > 0
        and result.cp - result.cpk > OFF_CENTRE_SHARE * result.cp
    ):
        notes.append(
            f"Off centre: centring the process on the middle of the tolerance would raise Cpk "
            f"to Cp ({result.cp:.2f})."
        )
    # The service's own "not in control" warning is said above, with the rules broken.
    notes.extend(
        warning[:1].upper() + warning[1:]
        for warning in result.warnings
        if not warning.startswith(UNSTABLE_WARNING)
    )
    return CapabilityView(
        n=result.n,
        mean=result.mean,
        sigma_within=result.sigma_within,
        sigma_overall=result.sigma_overall,
        cp=result.cp,
        cpk=result.cpk,
        pp=result.pp,
        ppk=result.ppk,
        in_control=study.in_control,
        broken_rules=study.broken_rules,
        verdict=verdict,
        expected_ppm=expected_ppm(result.mean, result.sigma_overall, lsl, usl),
        notes=list(dict.fromkeys(notes)),
    )
