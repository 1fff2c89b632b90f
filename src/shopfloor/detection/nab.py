"""Scoring by the Numenta Anomaly Benchmark method.

Each row of a file gets a sweep weight: inside a labelled window, a scaled sigmoid of how early
it falls (1.0 at the window's first row, 0 past its last); outside, a false-positive cost that
is full before the first window and grows from 0 to full with the distance after the previous
window. Rows of the probationary period (the first 15 % of a file, at most 750 rows) do not
count. For a threshold, a window earns the weight of its best detected row or costs the false
negative weight when none is detected, and every detected row outside a window costs its weight.
One threshold per profile is chosen to maximise the corpus total, which is reported normalised
between the detector that never fires (0) and the one that fires at the start of every window
(100).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROBATION_PERCENT = 0.15
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}
NOT_SCORED = -2  # a probationary row
OUTSIDE = -1  # a row outside every window


@dataclass(frozen=True)
class NabFile:
    """One data file of the corpus: its rows and its labelled windows as row index ranges."""

    name: str
    timestamps: np.ndarray  # datetime64[s]
    values: np.ndarray  # float64
    windows: tuple[tuple[int, int], ...]  # inclusive (first, last) row indices


@dataclass(frozen=True)
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    score: float  # normalised: 0 = never fires, 100 = perfect


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """2 sigmoid(-5x) - 1, and -1 from three window widths past a window on."""
    position = np.asarray(position, dtype=np.float64)
    value = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, value)


def probation_length(rows: int) -> int:
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * 5000))


def load_profiles(path: Path) -> dict[str, dict[str, float]]:
    """The profiles of NAB's ``profiles.json`` as {name: {tp, fp, fn}}."""
    raw = json.loads(path.read_text())
    return {
        name: {
            "tp": body["CostMatrix"]["tpWeight"],
            "fp": body["CostMatrix"]["fpWeight"],
            "fn": body["CostMatrix"]["fnWeight"],
        }
        for name, body in raw.items()
    }


def read_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A ``timestamp,value`` CSV file as (datetime64[s], float64) arrays."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    body = rows[1:] if rows and rows[0][:1] == ["timestamp"] else rows
    stamps = np.array([row[0] for row in body], dtype="datetime64[s]")
    values = np.array([float(row[1]) for row in body], dtype=np.float64)
    return stamps, values


def load_corpus(root: Path) -> list[NabFile]:
    """Every file of ``root/data`` that ``root/labels/combined_windows.json`` labels."""
    labels: Mapping[str, list[list[str]]] = json.loads(
        (root / "labels" / "combined_windows.json").read_text()
    )
    files = []
    for name in sorted(labels):
        stamps, values = read_series(root / "data" / name)
        files.append(NabFile(name, stamps, values, _window_rows(stamps, labels[name])))
    return files


def _window_rows(stamps: np.ndarray, windows: Iterable[list[str]]) -> tuple[tuple[int, int], ...]:
    rows = []
    for start, end in windows:
        first = int(np.searchsorted(stamps, np.datetime64(start.replace(" ", "T"), "s"), "left"))
        last = int(np.searchsorted(stamps, np.datetime64(end.replace(" ", "T"), "s"), "right")) - 1
        if last >= first:
            rows.append((first, last))
    return tuple(rows)


def sweep_weights(
    rows: int, windows: tuple[tuple[int, int], ...], tp: float, fp: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the weight a detection there earns, and its window number (or OUTSIDE)."""
    index = np.arange(rows, dtype=np.float64)
    weight = np.full(rows, -fp)  # before the first window: a full false positive
    window_of = np.full(rows, OUTSIDE, dtype=np.int64)
    max_tp = float(scaled_sigmoid(np.array(-1.0)))
    for number, (first, last) in enumerate(windows):
        width = last - first + 1
        inside = slice(first, last + 1)
        weight[inside] = scaled_sigmoid(-(last - index[inside] + 1) / width) * tp / max_tp
        window_of[inside] = number
        following = windows[number + 1][0] if number + 1 < len(windows) else rows
        after = slice(last + 1, following)
        distance = np.abs(last - index[after]) / max(width - 1, 1)
        weight[after] = scaled_sigmoid(distance) * fp
    window_of[: probation_length(rows)] = NOT_SCORED
    return weight, window_of


def corpus_curve(
    files: list[NabFile], scores: list[np.ndarray], costs: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds descending, corpus raw total when detecting at score ≥ each threshold).

    The first entry is the threshold above every score: nothing detected.
    """
    all_scores, deltas = [], []
    windows_scored = 0
    for file, file_scores in zip(files, scores, strict=True):
        weight, window_of = sweep_weights(len(file.values), file.windows, costs["tp"], costs["fp"])
        outside = window_of == OUTSIDE
        all_scores.append(file_scores[outside])
        deltas.append(weight[outside])
        for number in np.unique(window_of[window_of >= 0]):
            member = window_of == number
            windows_scored += 1
            window_scores, window_weight = _window_gains(
                file_scores[member], weight[member], costs["fn"]
            )
            all_scores.append(window_scores)
            deltas.append(window_weight)
    score_all = np.concatenate(all_scores)
    delta_all = np.concatenate(deltas)
    order = np.argsort(-score_all, kind="stable")
    sorted_scores = score_all[order]
    totals = np.cumsum(delta_all[order]) - costs["fn"] * windows_scored
    # A threshold counts every row whose score reaches it: evaluate at each group's last row.
    group_end = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    thresholds = np.r_[np.inf, sorted_scores[group_end]]
    return thresholds, np.r_[-costs["fn"] * windows_scored, totals[group_end]]


def _window_gains(
    scores: np.ndarray, weight: np.ndarray, fn: float
) -> tuple[np.ndarray, np.ndarray]:
    """A window's gain as its threshold falls: each increase of its best detected weight."""
    order = np.argsort(-scores, kind="stable")
    best = np.maximum.accumulate(np.maximum(weight[order], -fn))
    gains = np.diff(np.r_[-fn, best])
    return scores[order], gains


def score_corpus(
    files: list[NabFile],
    scores: list[np.ndarray],
    profiles: Mapping[str, Mapping[str, float]] = PROFILES,
) -> dict[str, ProfileResult]:
    """The normalised NAB score per profile, each at its own best threshold."""
    results = {}
    for name, costs in profiles.items():
        thresholds, totals = corpus_curve(files, scores, costs)
        best = int(np.argmax(totals))
        null = _best_total(files, [np.zeros(len(f.values)) for f in files], costs)
        # As NAB normalises: the perfect detector earns tp for every labelled window.
        perfect = costs["tp"] * sum(len(f.windows) for f in files)
        raw = float(totals[best])
        results[name] = ProfileResult(
            profile=name,
            threshold=float(thresholds[best]),
            raw=raw,
            score=100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0,
        )
    return results


def _best_total(
    files: list[NabFile], scores: list[np.ndarray], costs: Mapping[str, float]
) -> float:
    _, totals = corpus_curve(files, scores, costs)
    return float(totals.max())
