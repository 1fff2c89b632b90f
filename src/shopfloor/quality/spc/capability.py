"""Process capability (Cp, Cpk) and performance (Pp, Ppk) of a characteristic.

Cp = (USL - LSL) / 6 sigma_within and Cpk = min(USL - mean, mean - LSL) / 3 sigma_within measure
what the process could do from its short-term (within-subgroup) variation; Pp and Ppk are the same
with the overall sample standard deviation (ddof = 1), i.e. what it did. sigma_within is given,
or estimated as MR-bar/d2(2) from consecutive values (subgroup size 1, the default), or R-bar/d2
from consecutive subgroups of ``subgroup_size`` (a trailing incomplete subgroup is left out).

With one specification limit, Cp and Pp do not exist (None) and Cpk/Ppk use the side given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from shopfloor.quality.spc.charts import compute_chart
from shopfloor.quality.spc.constants import SpcInputError, TooFewPointsError

# Below about 30 values the confidence interval of Cpk spans more than ±0.25 around 1.33.
RELIABLE_N = 30


@dataclass
class Capability:
    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None
    warnings: list[str] = field(default_factory=list)


def capability(
    values: Sequence[float],
    lsl: float | None,
    usl: float | None,
    *,
    sigma_within: float | None = None,
    subgroup_size: int | None = None,
    in_control: bool | None = None,
) -> Capability:
    """Capability and performance indices; SpcInputError (a ValueError) for unusable input."""
    lsl, usl = _spec_limits(lsl, usl)
    data = _values(values)
    warnings: list[str] = []
    within = _sigma_within(data, sigma_within, subgroup_size, warnings)
    overall = float(np.std(data, ddof=1))
    mean = float(np.mean(data))
    if len(data) < RELIABLE_N:
        warnings.append(
            f"fewer than {RELIABLE_N} values: the indices are rough estimates (n = {len(data)})"
        )
    if in_control is False:
        warnings.append(
            "the process is not in statistical control: the indices do not predict what it "
            "will produce until the special causes are removed"
        )
    cp, cpk = _indices(mean, within, lsl, usl)
    pp, ppk = _indices(mean, overall, lsl, usl)
    if within == 0 or overall == 0:
        warnings.append("the values show no variation: indices that divide by it are left out")
    return Capability(
        n=len(data),
        mean=mean,
        sigma_within=within,
        sigma_overall=overall,
        cp=cp,
        cpk=cpk,
        pp=pp,
        ppk=ppk,
        warnings=warnings,
    )


def _spec_limits(lsl: float | None, usl: float | None) -> tuple[float | None, float | None]:
    if lsl is None and usl is None:
        raise SpcInputError(
            "capability needs at least one specification limit (lsl or usl)", field="lsl"
        )
    for name, limit in (("lsl", lsl), ("usl", usl)):
        if limit is not None and not math.isfinite(limit):
            raise SpcInputError(f"{name} must be a finite number, not {limit!r}", field=name)
    if lsl is not None and usl is not None and lsl >= usl:
        raise SpcInputError(f"lsl ({lsl:g}) must be below usl ({usl:g})", field="lsl")
    return lsl, usl


def _values(values: Sequence[float]) -> np.ndarray:
    try:
        data = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise SpcInputError("values must be numbers", field="values") from None
    if data.ndim != 1 or len(data) < 2:
        raise TooFewPointsError("capability needs at least 2 values", field="values")
    if (bad := np.flatnonzero(~np.isfinite(data))).size:
        i = int(bad[0])
        raise SpcInputError(f"value {i + 1} is not a finite number", field="values", index=i)
    return data


def _sigma_within(
    data: np.ndarray, given: float | None, subgroup_size: int | None, warnings: list[str]
) -> float:
    if given is not None:
        if not (math.isfinite(given) and given >= 0):
            raise SpcInputError(
                f"sigma_within must be a non-negative number, not {given!r}", field="sigma_within"
            )
        return float(given)
    if subgroup_size in (None, 1):
        chart = compute_chart("imr", data)
    else:
        chart = compute_chart("xbar_r", data, subgroup_size=subgroup_size)
    warnings.extend(chart.notes)
    assert chart.sigma_within is not None  # variables charts always estimate it
    return chart.sigma_within


def _indices(
    mean: float, sigma: float, lsl: float | None, usl: float | None
) -> tuple[float | None, float | None]:
    """(Cp, Cpk) for this sigma, or (Pp, Ppk) when it is the overall sigma."""
    if sigma == 0:
        return None, None
    upper = None if usl is None else (usl - mean) / (3.0 * sigma)
    lower = None if lsl is None else (mean - lsl) / (3.0 * sigma)
    sides = [k for k in (upper, lower) if k is not None]
    spread = None if usl is None or lsl is None else (usl - lsl) / (6.0 * sigma)
    return spread, min(sides)
