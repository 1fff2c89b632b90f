"""Western Electric and Nelson run rules on the points of a control chart.

Zones are measured in sigma of the plotted statistic, sigma = (UCL - CL)/3, per point when the
limits vary. "Beyond k sigma" is strictly beyond (a point exactly on a zone boundary is neither
beyond it nor within it), and a point exactly on the centre line belongs to neither side, so it
breaks a run on one side.

Western Electric: WE1 one point beyond 3 sigma; WE2 2 of 3 consecutive beyond 2 sigma on the same
side; WE3 4 of 5 consecutive beyond 1 sigma on the same side; WE4 8 in a row on one side.
Nelson: N1 one point beyond 3 sigma; N2 9 in a row on one side; N3 6 in a row steadily increasing
or decreasing (each point strictly above, resp. below, the one before; a tie breaks the run);
N4 14 in a row alternating up and down; N5 2 of 3 beyond 2 sigma on the same side; N6 4 of 5
beyond 1 sigma on the same side; N7 15 in a row within 1 sigma (either side); N8 8 in a row none
within 1 sigma, with points on both sides of the centre line among them. WE1 = N1, WE2 = N5 and
WE3 = N6 are the same tests.

Which point a violation is reported at (``Violation.index``, the chart's 1-based index):
- "m of w" rules: every point that is itself beyond the zone and has at least m - 1 more points
  beyond it on the same side among the w - 1 before it (at the start of the series, among those
  there are), i.e. the point that completes the pattern;
- run rules: the point at which the run first reaches its length, and again every further point
  that extends the run (a run of 10 points on one side gives WE4 at its 8th, 9th and 10th point);
  the description names the whole run so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from shopfloor.quality.spc.constants import SpcInputError

if TYPE_CHECKING:
    from shopfloor.quality.spc.charts import ChartResult

WESTERN_ELECTRIC = ("WE1", "WE2", "WE3", "WE4")
NELSON = ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8")
ALL = WESTERN_ELECTRIC + NELSON

# Escapes keep the source ASCII; descriptions show a Greek sigma and an en dash ("points 12-20").
_SIGMA = "\u03c3"
_DASH = "\u2013"


@dataclass(frozen=True)
class Violation:
    rule: str
    index: int  # the point that completes the pattern, counting from 1
    description: str


@dataclass(frozen=True)
class _Series:
    index: np.ndarray  # the chart's point indices
    z: np.ndarray  # distance from the centre line, in sigma of each point (±inf when sigma = 0)
    x: np.ndarray  # the values, for the trend rules

    def span(self, first: int, last: int) -> str:
        """'points 12-20' for positions first..last."""
        return f"points {self.index[first]}{_DASH}{self.index[last]}"


def evaluate(
    points: Sequence[float] | Sequence[tuple[int, float]],
    center: float | Sequence[float],
    sigma: float | Sequence[float],
    rules: Iterable[str] = ALL,
) -> list[Violation]:
    """The violations of ``rules`` (default: all), ordered by point index, then rule.

    ``points`` are values (indexed 1, 2, ...) or (index, value) pairs such as
    ``ChartResult.points``; ``center`` and ``sigma`` are one number or one per point.
    """
    chosen = _check_rules(rules)
    series = _series(points, center, sigma)
    found = [v for rule in ALL if rule in chosen for v in _RULES[rule](series, rule)]
    order = {rule: i for i, rule in enumerate(ALL)}
    return sorted(found, key=lambda v: (v.index, order[v.rule]))


def evaluate_chart(chart: ChartResult, rules: Iterable[str] = ALL) -> list[Violation]:
    """The violations on a computed chart, judged against its own (possibly per-point) limits."""
    return evaluate(chart.points, chart.center, chart.point_sigmas, rules)


def _check_rules(rules: Iterable[str]) -> set[str]:
    chosen = {rules} if isinstance(rules, str) else set(rules)
    unknown = sorted(chosen - set(ALL))
    if unknown:
        raise SpcInputError(
            f"unknown rule(s) {', '.join(unknown)}; the rules are {', '.join(ALL)}", field="rules"
        )
    return chosen


def _series(
    points: Sequence[float] | Sequence[tuple[int, float]],
    center: float | Sequence[float],
    sigma: float | Sequence[float],
) -> _Series:
    try:
        pairs = [p if isinstance(p, tuple) else (i + 1, p) for i, p in enumerate(points)]
        index = np.array([int(i) for i, _ in pairs], dtype=int)
        x = np.array([float(v) for _, v in pairs], dtype=float)
        centre = np.broadcast_to(np.asarray(center, dtype=float), x.shape)
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), x.shape)
    except (TypeError, ValueError):
        raise SpcInputError(
            "points must be numbers or (index, value) pairs, with one centre and one sigma "
            "or one of each per point"
        ) from None
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(centre)) and np.all(sig >= 0)):
        raise SpcInputError("points and centre must be finite and sigma not negative")
    deviation = x - centre
    with np.errstate(divide="ignore", invalid="ignore"):
        # With sigma = 0 (e.g. p̄ = 0) a point off the centre line is beyond every zone.
        off_line = np.where(deviation == 0, 0.0, np.sign(deviation) * np.inf)
        z = np.where(sig > 0, deviation / np.where(sig > 0, sig, 1.0), off_line)
        # The zone boundaries are whole numbers of sigma. A point computed to sit on one (a value
        # equal to the UCL, with sigma = (UCL - CL)/3 rounded) must not cross it by rounding.
        z = np.where(np.abs(z - np.round(z)) < 1e-9, np.round(z), z)
    return _Series(index=index, z=z, x=x)


def _run_lengths(flags: np.ndarray) -> np.ndarray:
    """For each position, how many consecutive True end there (0 where False)."""
    runs = np.zeros(len(flags), dtype=int)
    count = 0
    for i, flag in enumerate(flags):
        count = count + 1 if flag else 0
        runs[i] = count
    return runs


def _side(z: float) -> str:
    return "above" if z > 0 else "below"


def _beyond(s: _Series, rule: str) -> list[Violation]:
    return [
        Violation(
            rule,
            int(s.index[i]),
            f"{rule}: point {s.index[i]} is more than 3{_SIGMA} {_side(s.z[i])} the centre line",
        )
        for i in np.flatnonzero(np.abs(s.z) > 3)
    ]


def _m_of_w(m: int, w: int, k: int) -> Callable[[_Series, str], list[Violation]]:
    def rule_fn(s: _Series, rule: str) -> list[Violation]:
        found = []
        for sign in (1, -1):
            out = sign * s.z > k
            for i in np.flatnonzero(out):
                first = max(0, i - w + 1)
                if out[first : i + 1].sum() >= m:
                    found.append(
                        Violation(
                            rule,
                            int(s.index[i]),
                            f"{rule}: {m} of {w} points in a row more than {k}{_SIGMA} "
                            f"{_side(sign)} the centre line ({s.span(first, i)})",
                        )
                    )
        return found

    return rule_fn


def _runs(
    s: _Series, rule: str, flags: np.ndarray, length: int, what: str, counts_from: int = 0
) -> list[Violation]:
    """A violation at every point where a run of ``flags`` has reached ``length`` points;
    ``counts_from`` adds the points a run of differences spans beyond its flags."""
    runs = _run_lengths(flags) + np.where(flags, counts_from, 0)
    return [
        Violation(
            rule,
            int(s.index[i]),
            f"{rule}: {runs[i]} points in a row {what} ({s.span(i - runs[i] + 1, i)})",
        )
        for i in np.flatnonzero(runs >= length)
    ]


def _one_side(length: int) -> Callable[[_Series, str], list[Violation]]:
    def rule_fn(s: _Series, rule: str) -> list[Violation]:
        return _runs(s, rule, s.z > 0, length, "above the centre line") + _runs(
            s, rule, s.z < 0, length, "below the centre line"
        )

    return rule_fn


def _trend(s: _Series, rule: str) -> list[Violation]:
    # A run of k rising differences spans k + 1 points; step[0] = 0 (no point before the first).
    step = np.sign(np.diff(s.x, prepend=s.x[:1]))
    return _runs(s, rule, step > 0, 6, "steadily increasing", counts_from=1) + _runs(
        s, rule, step < 0, 6, "steadily decreasing", counts_from=1
    )


def _alternating(s: _Series, rule: str) -> list[Violation]:
    step = np.sign(np.diff(s.x, prepend=s.x[:1]))  # step[i]: x[i] against x[i-1]; step[0] = 0
    runs = np.ones(len(step), dtype=int)  # points in the alternating run ending at each point
    for i in range(1, len(step)):
        if step[i] == 0:
            runs[i] = 1  # a tie ends any alternation
        elif step[i] * step[i - 1] < 0:
            runs[i] = runs[i - 1] + 1
        else:
            runs[i] = 2  # a first move up or down starts a new one
    return [
        Violation(
            rule,
            int(s.index[i]),
            f"{rule}: {runs[i]} points in a row alternating up and down "
            f"({s.span(i - runs[i] + 1, i)})",
        )
        for i in np.flatnonzero(runs >= 14)
    ]


def _within_one(s: _Series, rule: str) -> list[Violation]:
    return _runs(s, rule, np.abs(s.z) < 1, 15, f"within 1{_SIGMA} of the centre line")


def _outside_one(s: _Series, rule: str) -> list[Violation]:
    outside = np.abs(s.z) > 1
    runs = _run_lengths(outside)
    found = []
    for i in np.flatnonzero(runs >= 8):
        first = i - runs[i] + 1
        run = s.z[first : i + 1]
        if (run > 0).any() and (run < 0).any():
            found.append(
                Violation(
                    rule,
                    int(s.index[i]),
                    f"{rule}: {runs[i]} points in a row more than 1{_SIGMA} from the centre "
                    f"line, on both sides ({s.span(first, i)})",
                )
            )
    return found


_RULES: dict[str, Callable[[_Series, str], list[Violation]]] = {
    "WE1": _beyond,
    "WE2": _m_of_w(2, 3, 2),
    "WE3": _m_of_w(4, 5, 1),
    "WE4": _one_side(8),
    "N1": _beyond,
    "N2": _one_side(9),
    "N3": _trend,
    "N4": _alternating,
    "N5": _m_of_w(2, 3, 2),
    "N6": _m_of_w(4, 5, 1),
    "N7": _within_one,
    "N8": _outside_one,
}
