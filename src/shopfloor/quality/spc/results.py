"""What a control chart computes: its points, limits and dispersion chart, and limits kept
for phase II (``FrozenLimits``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

CHART_KINDS = ("imr", "xbar_r", "xbar_s", "p", "np", "c", "u")
VARIABLES_CHARTS = ("imr", "xbar_r", "xbar_s")
ATTRIBUTE_CHARTS = ("p", "np", "c", "u")
DISPERSION_CHART = {"imr": "mr", "xbar_r": "r", "xbar_s": "s"}
TITLES = {"imr": "an I-MR", "xbar_r": "an X̄-R", "xbar_s": "an X̄-S", "p": "a p", "np": "an np"}


class Point(NamedTuple):
    index: int  # counting from 1
    value: float


class PointLimits(NamedTuple):
    lcl: float
    ucl: float


@dataclass(frozen=True)
class FrozenLimits:
    """Limits stored earlier. ``center`` is X̿ (X̄ for imr), p̄, np̄, c̄ or ū; variables charts
    also need ``dispersion.center`` (R̄, S̄ or MR̄). A missing ucl/lcl is derived from the centre
    lines with the usual formulas; a given one is used as is."""

    center: float
    ucl: float | None = None
    lcl: float | None = None
    dispersion: FrozenLimits | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrozenLimits:
        dispersion = data.get("dispersion")
        return cls(
            center=float(data["center"]),
            ucl=None if data.get("ucl") is None else float(data["ucl"]),
            lcl=None if data.get("lcl") is None else float(data["lcl"]),
            dispersion=None if dispersion is None else cls.from_dict(dispersion),
        )


@dataclass
class ChartResult:
    chart: str  # imr, xbar_r, xbar_s, p, np, c, u; the dispersion chart is mr, r or s
    center: float
    ucl: float
    lcl: float
    points: list[Point]
    point_limits: list[PointLimits] | None = None  # only when the limits vary per point
    dispersion: ChartResult | None = None  # the R, S or MR chart; None for attribute charts
    sigma_within: float | None = None  # R̄/d2, S̄/c4 or MR̄/d2(2); None for attribute charts
    baseline_count: int = 0  # points the limits were estimated from; 0 when frozen
    notes: list[str] = field(default_factory=list)
    members: list[list[int]] = field(default_factory=list)  # 0-based input positions per point
    labels: list[Hashable] | None = None  # the subgroup label of each point, when labels were given

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points]

    @property
    def sigma(self) -> float:
        """sigma of the plotted statistic, (UCL - CL)/3."""
        return (self.ucl - self.center) / 3.0

    @property
    def point_sigmas(self) -> list[float]:
        """sigma of the plotted statistic at each point, (UCL_i - CL)/3."""
        if self.point_limits is None:
            return [self.sigma] * len(self.points)
        return [(lim.ucl - self.center) / 3.0 for lim in self.point_limits]

    def frozen_limits(self) -> FrozenLimits:
        """These limits, to store and pass back as ``frozen`` later. Limits that vary with the
        sample size are left out, so they are derived again from each new sample size."""
        constant = self.point_limits is None
        return FrozenLimits(
            center=self.center,
            ucl=self.ucl if constant else None,
            lcl=self.lcl if constant else None,
            dispersion=None if self.dispersion is None else self.dispersion.frozen_limits(),
        )
