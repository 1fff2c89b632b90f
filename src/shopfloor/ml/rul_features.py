"""Causal windowed features of run-to-failure histories, for remaining-useful-life models.

Every feature of a row is computed from that unit's rows up to and including that row's cycle,
never from later rows or from other units: the feature vector at a test engine's last observed
cycle is exactly what it would have been had the history been cut there. The only numbers that
come from elsewhere are the per-sensor statistics (``SensorStats``), which are learned from the
training data and stored with the model.

Per informative sensor, standardised with the training mean and standard deviation, and for a
health index (the correlation-weighted average of the standardised sensors, which averages out
much of the per-sensor noise):

- ``value``: the current reading;
- ``mean{w}``: trailing means over the last ``w`` cycles (fewer at the start of a history);
- ``std{w}``: trailing standard deviations (noise grows as the fault develops);
- ``slope{w}``: least-squares slope over the last ``w`` cycles, per cycle (``slopeall``: over
  the whole history so far) — how fast the engine is degrading;
- ``ewm{a}``: exponentially weighted means, ``alpha = a / 100``;
- ``drift``: the ``ewm10`` level minus the mean of the unit's first cycles, which removes the
  engine-to-engine offsets of initial wear and manufacturing variation.

And ``cycle``, the number of cycles run so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

MEAN_WINDOWS = (5, 10, 20, 30)
STD_WINDOWS = (10, 30)
SLOPE_WINDOWS: tuple[int | None, ...] = (10, 20, 40, None)  # None: the whole history so far
EWM_PERCENT = (5, 20)  # alpha in percent, so that it reads well in a feature name
DRIFT_EWM_ALPHA = 0.1
BASELINE_CYCLES = 20  # "the start of life" for drift: the first cycles of a unit
MIN_LEVELS = 3  # a sensor with at most two distinct values is quantisation noise (FD001's s_6)
MIN_CORRELATION = 0.1  # |rank correlation| with the capped target below this: not informative
HEALTH = "hi"


@dataclass(frozen=True)
class SensorStats:
    """What standardising a sensor and weighting it in the health index need."""

    mean: float
    std: float
    weight: float  # the sensor's rank correlation with the capped target

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def rank_correlation(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation (0 when either side is constant)."""
    rx, ry = x.rank().to_numpy(), y.rank().to_numpy()
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def fit_sensor_stats(
    frame: pd.DataFrame,
    target: pd.Series,
    candidates: Sequence[str],
    min_levels: int = MIN_LEVELS,
    min_correlation: float = MIN_CORRELATION,
) -> dict[str, SensorStats]:
    """The informative sensors of the training ``frame`` and their statistics.

    A sensor is kept when it takes at least ``min_levels`` distinct values and its rank
    correlation with the (capped) target is at least ``min_correlation`` in magnitude. On FD001
    this drops the seven flat sensors and keeps the customary fourteen.
    """
    stats: dict[str, SensorStats] = {}
    for name in candidates:
        values = frame[name].astype(np.float64)
        if values.nunique() < min_levels:
            continue
        corr = rank_correlation(values, target)
        std = float(values.std(ddof=0))
        if abs(corr) < min_correlation or std <= 0.0:
            continue
        stats[name] = SensorStats(float(values.mean()), std, corr)
    if not stats:
        raise ValueError(
            "no informative sensor in the training data: every candidate is (nearly) constant"
            " or unrelated to the target"
        )
    return stats


def feature_names(sensors: Sequence[str]) -> list[str]:
    """The columns ``history_features`` returns, in order."""
    names = ["cycle"]
    for series in [*sensors, HEALTH]:
        names += [f"{series}_value"]
        names += [f"{series}_mean{w}" for w in MEAN_WINDOWS]
        names += [f"{series}_std{w}" for w in STD_WINDOWS]
        names += [f"{series}_slope{'all' if w is None else w}" for w in SLOPE_WINDOWS]
        names += [f"{series}_ewm{a}" for a in EWM_PERCENT]
        names += [f"{series}_drift"]
    return names


def sort_history(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by unit then cycle, checked for the columns the features read."""
    missing = [c for c in ("unit", "cycle", *columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame has no column {', '.join(missing)}")
    if frame.empty:
        raise ValueError("the frame has no rows")
    # A gap would silently shift every window sum after it; refuse it rather than guess.
    gaps = frame[["unit", "cycle", *columns]].isna().any()
    if gaps.any():
        raise ValueError(f"missing values in column {', '.join(gaps[gaps].index)}")
    if frame.duplicated(["unit", "cycle"]).any():
        first = frame.loc[frame.duplicated(["unit", "cycle"]), ["unit", "cycle"]].iloc[0]
        raise ValueError(f"unit {first['unit']} has cycle {first['cycle']} more than once")
    return frame.sort_values(["unit", "cycle"], kind="stable", ignore_index=True)


def history_features(frame: pd.DataFrame, stats: dict[str, SensorStats]) -> pd.DataFrame:
    """The features of every row of ``frame``, sorted by unit then cycle.

    Returns ``unit`` then ``feature_names(list(stats))`` (the first of which is ``cycle``), with
    a fresh index: row ``i`` is row ``i`` of the history sorted by unit then cycle.
    """
    sensors = list(stats)
    frame = sort_history(frame, sensors)
    units = frame["unit"].to_numpy()
    cycle = frame["cycle"].to_numpy(np.float64)
    z = np.column_stack(
        [(frame[s].to_numpy(np.float64) - stats[s].mean) / stats[s].std for s in sensors]
    )
    weights = np.array([stats[s].weight for s in sensors])
    health = z @ weights / np.abs(weights).sum()
    series = np.column_stack([z, health])

    window = _Windows(units, cycle)
    columns: list[np.ndarray] = [cycle[:, None]]
    ewm_drift = _ewm(series, units, DRIFT_EWM_ALPHA)
    baseline = window.baseline_mean(series, BASELINE_CYCLES)
    blocks = {
        "value": [series],
        "mean": [window.mean(series, w) for w in MEAN_WINDOWS],
        "std": [window.std(series, w) for w in STD_WINDOWS],
        "slope": [window.slope(series, w) for w in SLOPE_WINDOWS],
        "ewm": [_ewm(series, units, a / 100) for a in EWM_PERCENT],
        "drift": [ewm_drift - baseline],
    }
    # Interleave so that each series' features sit together, in feature_names' order.
    per_block = [block for kind in blocks.values() for block in kind]
    for j in range(series.shape[1]):
        columns += [block[:, j : j + 1] for block in per_block]
    values = np.hstack(columns)
    out = pd.DataFrame(values, columns=feature_names(sensors))
    out.insert(0, "unit", units)
    return out


class _Windows:
    """Trailing-window sums within each unit from per-unit cumulative sums.

    A cumulative sum restarted at each unit depends only on that unit's earlier rows, so a
    window sum at row ``i`` is the same however much history follows it.
    """

    def __init__(self, units: np.ndarray, cycle: np.ndarray) -> None:
        self.units = units
        self.position = pd.Series(units).groupby(units).cumcount().to_numpy()
        self.cycle = cycle[:, None]
        self.index = np.arange(len(units))

    def _cumsum(self, values: np.ndarray) -> np.ndarray:
        return pd.DataFrame(values).groupby(self.units).cumsum().to_numpy()

    def _sum(self, cumsum: np.ndarray, w: int | None) -> np.ndarray:
        if w is None:
            return cumsum
        lagged = np.where((self.position >= w)[:, None], cumsum[np.maximum(self.index - w, 0)], 0.0)
        return cumsum - lagged

    def _count(self, w: int | None) -> np.ndarray:
        n = self.position + 1
        return (n if w is None else np.minimum(n, w)).astype(np.float64)[:, None]

    def mean(self, x: np.ndarray, w: int) -> np.ndarray:
        return self._sum(self._cumsum(x), w) / self._count(w)

    def std(self, x: np.ndarray, w: int) -> np.ndarray:
        n = self._count(w)
        mean = self._sum(self._cumsum(x), w) / n
        square = self._sum(self._cumsum(x * x), w) / n
        return np.sqrt(np.maximum(square - mean * mean, 0.0))

    def slope(self, x: np.ndarray, w: int | None) -> np.ndarray:
        """Least-squares slope of ``x`` on the cycle over the window (0 with one point)."""
        n = self._count(w)
        # Centre the cycle on the unit's first cycle: smaller sums, less cancellation.
        first = self.cycle[self.index - self.position]
        t = self.cycle - first
        sums = self._cumsum(np.hstack([x, x * t, t, t * t]))
        k = x.shape[1]
        sx = self._sum(sums[:, :k], w)
        sxt = self._sum(sums[:, k : 2 * k], w)
        st = self._sum(sums[:, 2 * k : 2 * k + 1], w)
        stt = self._sum(sums[:, 2 * k + 1 :], w)
        var = stt / n - (st / n) ** 2
        cov = sxt / n - sx * st / (n * n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(var > 1e-9, cov / np.where(var > 1e-9, var, 1.0), 0.0)

    def baseline_mean(self, x: np.ndarray, cycles: int) -> np.ndarray:
        """The mean of the unit's first ``cycles`` rows, or of all its rows so far if fewer."""
        cumsum = self._cumsum(x)
        last = np.minimum(self.position, cycles - 1)
        start = self.index - self.position
        return cumsum[start + last] / (last + 1).astype(np.float64)[:, None]


def _ewm(x: np.ndarray, units: np.ndarray, alpha: float) -> np.ndarray:
    """Exponentially weighted means restarted at each unit (weights renormalised at the start)."""
    grouped = pd.DataFrame(x).groupby(units, sort=False)
    out = grouped.ewm(alpha=alpha, adjust=True).mean()
    # groupby-ewm returns rows grouped by unit; the frame is sorted by unit, so only the outer
    # index level needs dropping, but reindex anyway rather than rely on it.
    out = out.reset_index(level=0, drop=True).sort_index()
    return out.to_numpy()
