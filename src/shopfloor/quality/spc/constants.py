"""Control chart constants (d2, d3, c4, A2, A3, D3, D4, B3, B4, E2) for subgroup sizes 2..25.

They are computed from their definitions for normally distributed data rather than copied from a
printed table, so that no transcription error can creep in and every digit is available:

- c4(n) = sqrt(2/(n-1)) * Γ(n/2) / Γ((n-1)/2), the mean of the sample standard deviation in units
  of sigma (through log-gamma, which does not overflow);
- d2(n) = E[R]/sigma = ∫ 1 - (1-Φ(x))^n - Φ(x)^n dx over the real line, the mean relative range;
- d3(n) = sd(R)/sigma, from E[R²] = 2 ∫∫_{x<y} [1 - Φ(y)^n - (1-Φ(x))^n + (Φ(y)-Φ(x))^n] dx dy
  (the probability that the sample straddles [x, y], integrated over every pair x < y);
- A2 = 3/(d2√n), A3 = 3/(c4√n), D3 = max(0, 1-3d3/d2), D4 = 1+3d3/d2,
  B3 = max(0, 1-3√(1-c4²)/c4), B4 = 1+3√(1-c4²)/c4, E2 = 3/d2 (E2 at n=2 is the I-MR factor 2.66).

All 24 sizes are integrated together, once per process (about a tenth of a second), to an
absolute accuracy near 1e-10; d3(2) = sqrt(2 - 4/π) and d2(2) = 2/√π check it exactly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

MIN_SUBGROUP_SIZE = 2
MAX_SUBGROUP_SIZE = 25


class SpcInputError(ValueError):
    """Input that an SPC or capability calculation cannot use; the message is for the user.

    ``field`` names the offending argument and ``index`` (0-based) the offending item, when
    there is one, so that an API can point at it.
    """

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None):
        super().__init__(message)
        self.field = field
        self.index = index


class TooFewPointsError(SpcInputError):
    """Not enough values, subgroups or baseline points to estimate limits."""


class SubgroupSizeError(SpcInputError):
    """A subgroup size outside 2..25, or subgroups of unequal size."""


class CountError(SpcInputError):
    """A negative or fractional count, or more nonconforming units than were inspected."""


@dataclass(frozen=True)
class ChartConstants:
    n: int
    d2: float
    d3: float
    c4: float
    A2: float
    A3: float
    D3: float
    D4: float
    B3: float
    B4: float
    E2: float


# x grid for the inner integral of E[R²]. The integrand is smooth and negligible beyond ±9
# (Φ(-9) ≈ 1e-19), where the trapezoidal rule converges geometrically, so 1201 points are far
# more than the 1e-9 target needs.
_X = np.linspace(-9.0, 9.0, 1201)
_SIZES = np.arange(MIN_SUBGROUP_SIZE, MAX_SUBGROUP_SIZE + 1, dtype=float)
_TOL = 1e-12


def _c4(n: np.ndarray) -> np.ndarray:
    return np.sqrt(2.0 / (n - 1.0)) * np.exp(
        special.gammaln(n / 2.0) - special.gammaln((n - 1.0) / 2.0)
    )


def _d2_all() -> np.ndarray:
    sizes = _SIZES

    def integrand(x: float) -> np.ndarray:
        return 1.0 - special.ndtr(-x) ** sizes - special.ndtr(x) ** sizes

    value, _ = integrate.quad_vec(integrand, -np.inf, np.inf, epsabs=_TOL, epsrel=_TOL)
    return np.asarray(value)


def _mean_square_range_all() -> np.ndarray:
    # Substituting y = x + r turns the triangle x < y into a strip r > 0: the outer integral over
    # r is adaptive (scipy), the inner over x is a vectorised trapezoid for all sizes at once.
    sizes = _SIZES[:, None]
    cdf_x = special.ndtr(_X)
    survival_pow = special.ndtr(-_X) ** sizes

    def inner(r: float) -> np.ndarray:
        cdf_y = special.ndtr(_X + r)
        h = 1.0 - cdf_y**sizes - survival_pow + (cdf_y - cdf_x) ** sizes
        return integrate.trapezoid(h, _X, axis=1)

    value, _ = integrate.quad_vec(inner, 0.0, np.inf, epsabs=_TOL, epsrel=_TOL)
    return 2.0 * np.asarray(value)


@functools.cache
def table() -> dict[int, ChartConstants]:
    """All constants for n = 2..25, computed once per process."""
    d2 = _d2_all()
    d3 = np.sqrt(_mean_square_range_all() - d2**2)
    c4 = _c4(_SIZES)
    rows: dict[int, ChartConstants] = {}
    for i, n in enumerate(range(MIN_SUBGROUP_SIZE, MAX_SUBGROUP_SIZE + 1)):
        d2n, d3n, c4n = float(d2[i]), float(d3[i]), float(c4[i])
        spread_s = 3.0 * math.sqrt(1.0 - c4n**2) / c4n
        rows[n] = ChartConstants(
            n=n,
            d2=d2n,
            d3=d3n,
            c4=c4n,
            A2=3.0 / (d2n * math.sqrt(n)),
            A3=3.0 / (c4n * math.sqrt(n)),
            D3=max(0.0, 1.0 - 3.0 * d3n / d2n),
            D4=1.0 + 3.0 * d3n / d2n,
            B3=max(0.0, 1.0 - spread_s),
            B4=1.0 + spread_s,
            E2=3.0 / d2n,
        )
    return rows


def constants(n: int) -> ChartConstants:
    """The constants for subgroup size ``n`` (2..25); SubgroupSizeError otherwise."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise SubgroupSizeError(f"the subgroup size must be a whole number, not {n!r}")
    if not MIN_SUBGROUP_SIZE <= n <= MAX_SUBGROUP_SIZE:
        raise SubgroupSizeError(
            f"the subgroup size must be between {MIN_SUBGROUP_SIZE} and {MAX_SUBGROUP_SIZE}, "
            f"not {n}",
            field="subgroup_size",
        )
    return table()[int(n)]
