"""Drift of live model inputs against the training reference, feature by feature.

Two views of each feature: the population stability index (PSI) over the reference's deciles,
which grows with how much mass moved between bins, and the two-sample Kolmogorov-Smirnov test,
whose p-value says how unlikely the live sample is under the reference's distribution. A
feature drifts when its PSI passes ``psi_threshold`` (0.2 is the customary "significant shift")
or the KS p-value falls below ``ks_pvalue``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

PSI_THRESHOLD = 0.2
KS_PVALUE = 0.01
BINS = 10
# Empty bins would make the index infinite: they count as this share instead.
FLOOR = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


def psi(reference: np.ndarray, live: np.ndarray, bins: int = BINS) -> float:
    """Population stability index of ``live`` against ``reference`` on the reference's
    quantile bins (open-ended at both ends)."""
    reference = _finite(reference)
    live = _finite(live)
    if not len(reference) or not len(live):
        raise ValueError("both samples need finite values")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    actual = np.bincount(np.searchsorted(edges, live, side="right"), minlength=len(edges) + 1)
    e = np.maximum(expected / expected.sum(), FLOOR)
    a = np.maximum(actual / actual.sum(), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_drift(
    name: str,
    reference: np.ndarray,
    live: np.ndarray,
    *,
    psi_threshold: float = PSI_THRESHOLD,
    ks_pvalue: float = KS_PVALUE,
) -> FeatureDrift:
    index = psi(reference, live)
    test = stats.ks_2samp(_finite(reference), _finite(live))
    statistic, pvalue = float(test.statistic), float(test.pvalue)
    return FeatureDrift(name, index, statistic, pvalue, index > psi_threshold or pvalue < ks_pvalue)


def drift_report(
    reference: dict[str, np.ndarray],
    live: dict[str, np.ndarray],
    features: Iterable[str] | None = None,
    *,
    psi_threshold: float = PSI_THRESHOLD,
    ks_pvalue: float = KS_PVALUE,
) -> list[FeatureDrift]:
    """Each feature's drift (the features of both samples, or those given), worst first."""
    names = list(features) if features is not None else [n for n in reference if n in live]
    found = [
        feature_drift(n, reference[n], live[n], psi_threshold=psi_threshold, ks_pvalue=ks_pvalue)
        for n in names
    ]
    return sorted(found, key=lambda d: d.psi, reverse=True)


def _finite(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]
