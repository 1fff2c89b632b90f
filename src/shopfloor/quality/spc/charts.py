"""Shewhart control charts, following Montgomery (Introduction to Statistical Quality Control).

Variables charts (individual values in time order):
- ``imr``: individuals X̄ ± E2·MR̄ (E2 = 3/d2(2) ≈ 2.66), moving-range chart D3(2)·MR̄ = 0 to
  D4(2)·MR̄ ≈ 3.267·MR̄; sigma within = MR̄/d2(2). MR point i is |x_i - x_(i-1)|, so it carries the
  index of the later value and the MR chart starts at index 2.
- ``xbar_r``: X̿ ± A2·R̄, R chart D3·R̄ to D4·R̄; sigma within = R̄/d2.
- ``xbar_s``: X̿ ± A3·S̄, S chart B3·S̄ to B4·S̄; sigma within = S̄/c4.
Subgroups come from labels (grouped in order of first appearance) or consecutive runs of
``subgroup_size`` values; every subgroup must have the same size, 2..25.

Attribute charts (one count per subgroup; the LCL floors at 0):
- ``p``: p̄ ± 3√(p̄(1-p̄)/n_i), p̄ = ΣD/Σn; ``np``: np̄ ± 3√(np̄(1-p̄)), one constant n;
- ``c``: c̄ ± 3√c̄; ``u``: ū ± 3√(ū/n_i), ū = Σc/Σn (n_i = units inspected, may be fractional).
When sample sizes vary, p and u limits vary per point (``point_limits``); ``ucl``/``lcl`` then
show the limits at the average sample size.

Phases: ``baseline=K`` estimates the limits from the first K points (phase I) and judges every
point against them (phase II); ``frozen`` supplies limits stored earlier (``FrozenLimits``, e.g.
``ChartResult.frozen_limits()``), which are not re-estimated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopfloor.quality.spc.constants import (
    CountError,
    SpcInputError,
    SubgroupSizeError,
    TooFewPointsError,
    constants,
)
from shopfloor.quality.spc.results import (
    CHART_KINDS,
    DISPERSION_CHART,
    TITLES,
    VARIABLES_CHARTS,
    ChartResult,
    FrozenLimits,
    Point,
    PointLimits,
)


@dataclass(frozen=True)
class _Factors:
    width: float  # centre line ± width * dispersion centre
    lower: float  # dispersion chart LCL factor
    upper: float  # dispersion chart UCL factor
    bias: float  # sigma within = dispersion centre / bias


def compute_chart(
    kind: str,
    values: Sequence[float],
    *,
    subgroups: Sequence[Hashable] | None = None,
    subgroup_size: int | None = None,
    sample_sizes: Sequence[float] | float | None = None,
    baseline: int | None = None,
    frozen: FrozenLimits | None = None,
) -> ChartResult:
    """Compute a control chart; SpcInputError (a ValueError) explains unusable input."""
    if kind not in CHART_KINDS:
        raise SpcInputError(
            f"unknown chart {kind!r}; choose one of {', '.join(CHART_KINDS)}", field="chart"
        )
    notes: list[str] = []
    data = _finite(values, "values")
    if kind == "imr":
        if subgroups is not None or subgroup_size not in (None, 1):
            notes.append("an I-MR chart plots individual values; subgroups are ignored")
        return _imr(data, baseline, frozen, notes)
    if kind in VARIABLES_CHARTS:
        return _xbar(kind, data, subgroups, subgroup_size, baseline, frozen, notes)
    if subgroups is not None or subgroup_size is not None:
        notes.append("an attribute chart takes one count per subgroup; subgroups are ignored")
    return _attribute(kind, data, sample_sizes, baseline, frozen, notes)


def _finite(values: Any, name: str) -> np.ndarray:
    try:
        data = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise SpcInputError(f"{name} must be numbers", field=name) from None
    if data.ndim != 1:
        raise SpcInputError(f"{name} must be a flat list of numbers", field=name)
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        i = int(bad[0])
        raise SpcInputError(
            f"{name} must be finite numbers; item {i + 1} is {values[i]!r}", field=name, index=i
        )
    return data


def _baseline_count(baseline: int | None, frozen: FrozenLimits | None, n: int, what: str) -> int:
    if frozen is not None:
        if baseline is not None:
            raise SpcInputError(
                "give either a baseline or frozen limits, not both", field="baseline"
            )
        if n < 1:
            raise TooFewPointsError(f"there are no {what} to plot", field="values")
        return 0
    if n < 2:
        raise TooFewPointsError(
            f"at least 2 {what} are needed to estimate control limits, got {n}", field="values"
        )
    if baseline is None:
        return n
    if isinstance(baseline, bool) or not isinstance(baseline, int | np.integer) or baseline < 2:
        raise TooFewPointsError(
            f"the baseline must be a whole number of at least 2 {what}, not {baseline!r}",
            field="baseline",
        )
    if baseline > n:
        raise TooFewPointsError(
            f"the baseline asks for {baseline} {what} but there are only {n}", field="baseline"
        )
    return int(baseline)


def _spread_centre(frozen: FrozenLimits, kind: str) -> float:
    if frozen.dispersion is None:
        name = DISPERSION_CHART[kind].upper()
        raise SpcInputError(
            f"frozen limits for {TITLES[kind]} chart need the {name} chart's centre line",
            field="frozen",
        )
    return frozen.dispersion.center


def _stored(limits: FrozenLimits | None, name: str) -> float | None:
    return None if limits is None else getattr(limits, name)


def _given(value: float | None, derived: float) -> float:
    return derived if value is None else float(value)


def _variables_pair(
    kind: str,
    stat: tuple[np.ndarray, list[int], int],
    spread: tuple[np.ndarray, list[int], int],
    frozen: FrozenLimits | None,
    f: _Factors,
) -> tuple[ChartResult, ChartResult]:
    """The X (or X̄) chart and its dispersion chart; each of stat and spread is (plotted values,
    their indices, how many of them form the baseline)."""
    (x, x_idx, x_base), (s, s_idx, s_base) = stat, spread
    if frozen is None:
        center, spread_center = float(np.mean(x[:x_base])), float(np.mean(s[:s_base]))
    else:
        center, spread_center = frozen.center, _spread_centre(frozen, kind)
    frozen_s = frozen.dispersion if frozen is not None else None
    sigma_within = spread_center / f.bias
    dispersion = ChartResult(
        chart=DISPERSION_CHART[kind],
        center=spread_center,
        ucl=_given(_stored(frozen_s, "ucl"), f.upper * spread_center),
        lcl=_given(_stored(frozen_s, "lcl"), f.lower * spread_center),
        points=[Point(i, float(v)) for i, v in zip(s_idx, s, strict=True)],
        sigma_within=sigma_within,
        baseline_count=s_base,
    )
    main = ChartResult(
        chart=kind,
        center=center,
        ucl=_given(_stored(frozen, "ucl"), center + f.width * spread_center),
        lcl=_given(_stored(frozen, "lcl"), center - f.width * spread_center),
        points=[Point(i, float(v)) for i, v in zip(x_idx, x, strict=True)],
        dispersion=dispersion,
        sigma_within=sigma_within,
        baseline_count=x_base,
    )
    return main, dispersion


def _imr(
    x: np.ndarray, baseline: int | None, frozen: FrozenLimits | None, notes: list[str]
) -> ChartResult:
    k = _baseline_count(baseline, frozen, len(x), "values")
    c2 = constants(2)  # moving ranges of two consecutive values
    moving_ranges = np.abs(np.diff(x))
    main, dispersion = _variables_pair(
        "imr",
        (x, list(range(1, len(x) + 1)), k),
        (moving_ranges, list(range(2, len(x) + 1)), max(k - 1, 0)),
        frozen,
        _Factors(width=c2.E2, lower=c2.D3, upper=c2.D4, bias=c2.d2),
    )
    main.members = [[i] for i in range(len(x))]
    dispersion.members = [[i - 1, i] for i in range(1, len(x))]
    main.notes = notes
    return main


def _xbar(
    kind: str,
    x: np.ndarray,
    subgroups: Sequence[Hashable] | None,
    subgroup_size: int | None,
    baseline: int | None,
    frozen: FrozenLimits | None,
    notes: list[str],
) -> ChartResult:
    members, labels = _group(kind, x, subgroups, subgroup_size, notes)
    size = len(members[0]) if members else 0
    k = _baseline_count(baseline, frozen, len(members), "subgroups")
    groups = x[np.asarray(members, dtype=int)]
    means = groups.mean(axis=1)
    c = constants(size)
    if kind == "xbar_r":
        spread = groups.max(axis=1) - groups.min(axis=1)
        factors = _Factors(width=c.A2, lower=c.D3, upper=c.D4, bias=c.d2)
    else:
        spread = groups.std(axis=1, ddof=1)
        factors = _Factors(width=c.A3, lower=c.B3, upper=c.B4, bias=c.c4)
    index = list(range(1, len(members) + 1))
    main, dispersion = _variables_pair(kind, (means, index, k), (spread, index, k), frozen, factors)
    main.members = dispersion.members = members
    main.labels = dispersion.labels = labels
    main.notes = notes
    return main


def _group(
    kind: str,
    x: np.ndarray,
    subgroups: Sequence[Hashable] | None,
    subgroup_size: int | None,
    notes: list[str],
) -> tuple[list[list[int]], list[Hashable] | None]:
    """Positions of the values in each subgroup, and the subgroup labels when given."""
    if subgroups is not None:
        return _group_by_label(kind, x, subgroups, subgroup_size, notes)
    if subgroup_size is None:
        raise SubgroupSizeError(
            f"{TITLES[kind]} chart needs subgroups: give subgroup labels or a subgroup size",
            field="subgroup_size",
        )
    size = constants(subgroup_size).n  # validates 2..25
    complete = len(x) // size
    leftover = len(x) - complete * size
    if leftover:
        notes.append(
            f"the last {leftover} value(s) do not fill a subgroup of {size} and are left out"
        )
    return [list(range(g * size, (g + 1) * size)) for g in range(complete)], None


def _group_by_label(
    kind: str,
    x: np.ndarray,
    subgroups: Sequence[Hashable],
    subgroup_size: int | None,
    notes: list[str],
) -> tuple[list[list[int]], list[Hashable]]:
    if len(subgroups) != len(x):
        raise SpcInputError(
            f"{len(subgroups)} subgroup labels for {len(x)} values; give one label per value",
            field="subgroups",
        )
    positions: dict[Hashable, list[int]] = {}
    for i, label in enumerate(subgroups):
        if label is None:
            raise SpcInputError(f"value {i + 1} has no subgroup label", field="subgroups", index=i)
        positions.setdefault(label, []).append(i)
    labels, members = list(positions), list(positions.values())
    first = len(members[0]) if members else 0
    for label, group in positions.items():
        if len(group) != first:
            raise SubgroupSizeError(
                f"every subgroup of {TITLES[kind]} chart needs the same number of values: "
                f"subgroup {labels[0]!r} has {first}, subgroup {label!r} has {len(group)}",
                field="subgroups",
                index=group[0],
            )
    if members:
        constants(first)  # validates 2..25
    if subgroup_size is not None and subgroup_size != first:
        notes.append(f"subgroups follow their labels ({first} values each), not subgroup_size")
    return members, labels


def _attribute(
    kind: str,
    counts: np.ndarray,
    sample_sizes: Sequence[float] | float | None,
    baseline: int | None,
    frozen: FrozenLimits | None,
    notes: list[str],
) -> ChartResult:
    k = _baseline_count(baseline, frozen, len(counts), "subgroups")
    _check_counts(counts)
    sizes = _sample_sizes(kind, sample_sizes, counts, notes)
    stat, center, sigma_at = _attribute_statistics(kind, counts, sizes, k, frozen)

    def limits(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ucl, lcl = center + 3.0 * sigma_at(n), np.maximum(center - 3.0 * sigma_at(n), 0.0)
        frozen_ucl, frozen_lcl = _stored(frozen, "ucl"), _stored(frozen, "lcl")
        return (
            ucl if frozen_ucl is None else np.full_like(ucl, frozen_ucl),
            lcl if frozen_lcl is None else np.full_like(lcl, frozen_lcl),
        )

    ucls, lcls = limits(sizes)
    varying = bool(np.ptp(ucls) > 0 or np.ptp(lcls) > 0)
    ucl, lcl = limits(np.array([np.mean(sizes)])) if varying else (ucls[:1], lcls[:1])
    if varying:
        notes.append(
            "the control limits vary with the sample size; ucl and lcl are those for the "
            f"average sample size ({float(np.mean(sizes)):.4g})"
        )
    return ChartResult(
        chart=kind,
        center=center,
        ucl=float(ucl[0]),
        lcl=float(lcl[0]),
        points=[Point(i + 1, float(v)) for i, v in enumerate(stat)],
        point_limits=[PointLimits(float(a), float(b)) for a, b in zip(lcls, ucls, strict=True)]
        if varying
        else None,
        baseline_count=k,
        notes=notes,
        members=[[i] for i in range(len(counts))],
    )


def _first(mask: np.ndarray) -> int | None:
    bad = np.flatnonzero(mask)
    return int(bad[0]) if bad.size else None


def _check_counts(counts: np.ndarray) -> None:
    if (i := _first(counts < 0)) is not None:
        raise CountError(f"count {i + 1} is negative ({counts[i]:g})", field="values", index=i)
    if (i := _first(counts != np.floor(counts))) is not None:
        raise CountError(
            f"count {i + 1} is not a whole number ({counts[i]:g})", field="values", index=i
        )


def _sample_sizes(kind: str, sample_sizes: Any, counts: np.ndarray, notes: list[str]) -> np.ndarray:
    if kind == "c":
        if sample_sizes is not None:
            notes.append("a c chart counts per inspection unit; sample sizes are ignored")
        return np.ones_like(counts)
    if sample_sizes is None:
        raise SpcInputError(f"a {kind} chart needs the sample sizes", field="sample_sizes")
    if np.ndim(sample_sizes) == 0:  # one size for every subgroup
        sample_sizes = [sample_sizes] * len(counts)
    sizes = _finite(sample_sizes, "sample_sizes")
    if len(sizes) != len(counts):
        raise SpcInputError(
            f"{len(sizes)} sample sizes for {len(counts)} counts; give one per subgroup",
            field="sample_sizes",
        )
    whole = kind in ("p", "np")  # units inspected; u may count fractional units (m², km)
    if (i := _first((sizes <= 0) | (whole & (sizes != np.floor(sizes))))) is not None:
        need = "a whole number of units, at least 1" if whole else "a positive number of units"
        raise SpcInputError(
            f"sample size {i + 1} must be {need}, not {sizes[i]:g}", field="sample_sizes", index=i
        )
    if whole and (i := _first(counts > sizes)) is not None:
        raise CountError(
            f"count {i + 1} ({counts[i]:g} nonconforming) exceeds its sample size ({sizes[i]:g})",
            field="values",
            index=i,
        )
    if kind == "np" and np.ptp(sizes) > 0:
        raise SpcInputError(
            "an np chart needs the same sample size for every subgroup; "
            "use a p chart when sample sizes vary",
            field="sample_sizes",
        )
    return sizes


def _attribute_statistics(
    kind: str, counts: np.ndarray, sizes: np.ndarray, k: int, frozen: FrozenLimits | None
) -> tuple[np.ndarray, float, Callable[[np.ndarray], np.ndarray]]:
    """The plotted statistic, the centre line and sigma of the statistic for a sample size."""
    # p-bar and u-bar are pooled (sum D / sum n), weighting subgroups by size, as Montgomery does.
    pooled = float(counts[:k].sum() / sizes[:k].sum()) if k else math.nan
    if kind == "p":
        p_bar = _frozen_centre(frozen, pooled, upper=1.0)
        return counts / sizes, p_bar, lambda n: np.sqrt(p_bar * (1.0 - p_bar) / n)
    if kind == "np":
        n = float(sizes[0])
        np_bar = _frozen_centre(frozen, pooled * n, upper=n)
        return counts, np_bar, lambda m: np.full_like(m, math.sqrt(np_bar * (1.0 - np_bar / n)))
    if kind == "c":
        c_bar = _frozen_centre(frozen, float(np.mean(counts[:k])) if k else math.nan)
        return counts, c_bar, lambda m: np.full_like(m, math.sqrt(c_bar))
    u_bar = _frozen_centre(frozen, pooled)
    return counts / sizes, u_bar, lambda n: np.sqrt(u_bar / n)


def _frozen_centre(frozen: FrozenLimits | None, estimate: float, upper: float = math.inf) -> float:
    if frozen is None:
        return estimate
    if not 0.0 <= frozen.center <= upper:
        raise SpcInputError(
            f"the frozen centre line {frozen.center:g} is outside 0..{upper:g}", field="frozen"
        )
    return float(frozen.center)
