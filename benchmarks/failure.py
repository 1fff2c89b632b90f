"""Machine-failure prediction on AI4I 2020: F1 of ``Machine failure`` against baselines, in one run.

The data set is read from ``../shared/data/ai4i2020/ai4i2020.csv`` (relative to the project
root; never copied in): 10,000 machining runs, 339 failures. Each seed draws a stratified 80/20
split; every model is trained on the 80 % alone, including the choice of its decision threshold
(five stratified inner folds on the training rows, the F1-maximising cut of their out-of-fold
probabilities), and scored once on the 20 %. Figures are the mean ± sd over the seeds.

Inputs are Type and the five process measurements only. The failure-mode columns (TWF, HDF, PWF,
OSF, RNF) are labels: the last table row feeds them to LightGBM anyway, to show what a leak would
look like; it is a sanity line, not a result. The recall by failure mode uses them to explain the
misses, never as inputs.

Models, same splits:

* majority class: never predicts a failure (F1 0; the accuracy would still be 96.6 %);
* logistic regression on the raw inputs (one-hot Type, standardised measurements);
* LightGBM on the raw inputs (Type and the five measurements, ``RAW_FEATURES``);
* LightGBM with the derived features but LightGBM's default binning (max_bin 255), to show what
  the finer bins of ``DEFAULT_PARAMS`` are for;
* ``shopfloor.ml.failure``: derived features (temperature difference, power, torque x wear) and
  fine bins; the defaults of ``train_failure``.

Latency: ``FailureModel.risk`` called in-process on one row at a time (a one-row DataFrame, and
the dict ``features_from_measurements`` returns), after a warm-up; one thread.

Run from the project root: ``python -m benchmarks.failure [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.common import ROOT, banner, markdown_table
from shopfloor.ml.ai4i import MEASUREMENTS, MODES, NOT_INPUTS, read_ai4i
from shopfloor.ml.failure import (
    DEFAULT_PARAMS,
    FEATURES,
    INNER_FOLDS,
    RAW_FEATURES,
    FailureModel,
    choose_threshold,
    engineer,
    features_from_measurements,
    train_failure,
)

DATA = ROOT.parent / "shared" / "data" / "ai4i2020" / "ai4i2020.csv"
TARGET_F1 = 0.85
TEST_SIZE = 0.2
SHOPFLOOR = "shopfloor: derived features, fine bins"
LEAK = "NOT ALLOWED: + TWF/HDF/PWF/OSF/RNF as inputs"


@dataclass
class Scores:
    f1: list[float] = field(default_factory=list)
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    train_s: list[float] = field(default_factory=list)

    def add(self, y: np.ndarray, called: np.ndarray, threshold: float, seconds: float) -> None:
        self.f1.append(float(f1_score(y, called, zero_division=0)))
        self.precision.append(float(precision_score(y, called, zero_division=0)))
        self.recall.append(float(recall_score(y, called, zero_division=0)))
        self.threshold.append(threshold)
        self.train_s.append(seconds)


@dataclass
class Split:
    seed: int
    train: np.ndarray
    test: np.ndarray


def mean_sd(values: list[float], digits: int = 3) -> str:
    if not values or all(np.isnan(values)):
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"


# -- the models: each trains on the training rows and answers (0/1 calls, threshold) --------------
# (0/1 calls on the test rows, the threshold used, the FailureModel when there is one)
Outcome = tuple[np.ndarray, float, FailureModel | None]
Model = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame, int], Outcome]


def majority(X: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, seed: int) -> Outcome:
    label = int(np.bincount(y).argmax())
    return np.full(len(test), label), float("nan"), None


def raw_matrix(X: pd.DataFrame) -> np.ndarray:
    onehot = pd.get_dummies(X["type"], dtype="float64").to_numpy()
    return np.column_stack([onehot, X[list(MEASUREMENTS)].to_numpy(dtype="float64")])


def logistic(X: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, seed: int) -> Outcome:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    inner = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed)
    oof = cross_val_predict(model, raw_matrix(X), y, cv=inner, method="predict_proba")[:, 1]
    threshold, _ = choose_threshold(y, oof)
    model.fit(raw_matrix(X), y)
    called = (model.predict_proba(raw_matrix(test))[:, 1] >= threshold).astype(int)
    return called, threshold, None


def lightgbm_model(features: list[str], params: dict | None = None) -> Model:
    def run(X: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, seed: int) -> Outcome:
        model = train_failure(X, y, seed=seed, num_threads=1, params=params, features=features)
        return model.predict(test), model.threshold, model

    return run


def leaky(modes: pd.DataFrame) -> Model:
    """LightGBM that also reads the failure modes. Exists only to show the leak's size."""

    def run(X: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, seed: int) -> Outcome:
        def rows(frame: pd.DataFrame) -> np.ndarray:
            flags = modes.loc[frame.index, list(MODES)].to_numpy(dtype="float64")
            return np.column_stack([engineer(frame).to_numpy(), flags])

        params = {**DEFAULT_PARAMS, "seed": seed, "num_threads": 1}
        rounds = params.pop("num_iterations")
        booster = lightgbm.train(params, lightgbm.Dataset(rows(X), y), num_boost_round=rounds)
        return (booster.predict(rows(test)) >= 0.5).astype(int), 0.5, None

    return run


# -- latency --------------------------------------------------------------------------------------
def latency(model: FailureModel, test: pd.DataFrame, calls: int) -> list[list[str]]:
    frames = [test.iloc[[i % len(test)]] for i in range(calls)]
    records = test.to_dict("records")
    dicts = [
        features_from_measurements(
            {k: records[i % len(test)][k] for k in MEASUREMENTS}, records[i % len(test)]["type"]
        )
        for i in range(calls)
    ]
    table = []
    for label, inputs in (
        ("risk(one-row DataFrame)", frames),
        ("risk(features_from_measurements dict)", dicts),
    ):
        for warm in inputs[:50]:
            model.risk(warm)
        seconds = []
        for row in inputs:
            start = time.perf_counter_ns()
            model.risk(row)
            seconds.append((time.perf_counter_ns() - start) / 1000.0)
        p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
        table.append([label, calls, f"{p50:,.0f}", f"{p95:,.0f}", f"{p99:,.0f}"])
    return table


def batch_rate(model: FailureModel, test: pd.DataFrame, repeats: int = 5) -> float:
    """Rows per second when the whole test set goes to ``risk`` in one call."""
    start = time.perf_counter()
    for _ in range(repeats):
        model.risk(test)
    return repeats * len(test) / (time.perf_counter() - start)


# -- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failure", description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA, help="the AI4I CSV (%(default)s)")
    parser.add_argument("--quick", action="store_true", help="one seed, fewer latency calls")
    parser.add_argument("--seeds", type=int, default=None, help="splits (5; 1 with --quick)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 5)
    calls = 300 if args.quick else 2000

    banner("AI4I 2020 machine-failure prediction — benchmarks/failure.py")
    if not args.data.exists():
        print(f"SKIPPED: {args.data} is not there (see ../shared/data/README.md)")
        return
    X, y_series, modes = read_ai4i(args.data)
    y = y_series.to_numpy()
    print(
        f"data {args.data}: {len(y):,} rows, {int(y.sum())} failures ({y.mean():.1%}); "
        f"{seeds} stratified {1 - TEST_SIZE:.0%}/{TEST_SIZE:.0%} split(s), seeds 0..{seeds - 1}"
    )
    print(f"inputs: {', '.join(X.columns)}; shopfloor features: {', '.join(FEATURES)}\n")

    coarse = {"max_bin": 255, "min_data_in_bin": 3}
    models: dict[str, Model] = {
        "majority class": majority,
        "logistic regression, raw inputs": logistic,
        "LightGBM, raw inputs": lightgbm_model(RAW_FEATURES),
        "LightGBM, derived features, max_bin 255": lightgbm_model(FEATURES, coarse),
        SHOPFLOOR: lightgbm_model(FEATURES),
        LEAK: leaky(modes),
    }
    scores = {name: Scores() for name in models}
    rows_index = np.arange(len(y))
    splits = [
        Split(
            seed, *train_test_split(rows_index, test_size=TEST_SIZE, stratify=y, random_state=seed)
        )
        for seed in range(seeds)
    ]
    caught = pd.DataFrame(0, index=[*MODES, "no mode flagged"], columns=["failures", "caught"])
    false_alarms = 0
    first_model: FailureModel | None = None
    inner_f1: list[float] = []
    for split in splits:
        train_X, test_X = X.iloc[split.train], X.iloc[split.test]
        train_y, test_y = y[split.train], y[split.test]
        for name, model in models.items():
            start = time.perf_counter()
            called, threshold, trained = model(train_X, train_y, test_X, split.seed)
            seconds = time.perf_counter() - start
            scores[name].add(test_y, called, threshold, seconds)
            if name == SHOPFLOOR and trained is not None:
                inner_f1.append(float(trained.info["inner_f1"]))
                first_model = first_model or trained
                test_modes = modes.iloc[split.test]
                failed = test_y == 1
                hit = failed & (called == 1)
                for mode in MODES:
                    flagged = test_modes[mode].to_numpy() == 1
                    caught.loc[mode] += [int((failed & flagged).sum()), int((hit & flagged).sum())]
                none = test_modes.to_numpy().sum(axis=1) == 0
                caught.loc["no mode flagged"] += [
                    int((failed & none).sum()),
                    int((hit & none).sum()),
                ]
                false_alarms += int(((called == 1) & ~failed).sum())
        print(f"  seed {split.seed}: F1 {scores[SHOPFLOOR].f1[-1]:.3f}", flush=True)

    headers = ["model", "F1", "precision", "recall", "threshold", "train s"]
    rows = [
        [
            name,
            mean_sd(s.f1),
            mean_sd(s.precision),
            mean_sd(s.recall),
            mean_sd(s.threshold, 2),
            f"{statistics.fmean(s.train_s):.2f}",
        ]
        for name, s in scores.items()
    ]
    print()
    print(markdown_table(headers, rows))
    per_seed = ", ".join(f"{f:.3f}" for f in scores[SHOPFLOOR].f1)
    print(f"\nshopfloor F1 per seed: {per_seed}")
    print(f"shopfloor inner-fold F1 on the training rows (threshold choice): {mean_sd(inner_f1)}")
    print(
        "train s: the whole fit, one thread; for the logistic and allowed LightGBM models "
        f"{INNER_FOLDS} inner folds (threshold) + the final model."
    )

    print("\nshopfloor recall by failure mode, test rows of all seeds (labels used to explain):")
    table = [
        [
            mode,
            int(row.failures),
            int(row.caught),
            f"{row.caught / row.failures:.0%}" if row.failures else "",
        ]
        for mode, row in caught.iterrows()
    ]
    print(markdown_table(["mode (a row can have several)", "failures", "caught", "recall"], table))
    print(f"false alarms (healthy rows called failures): {false_alarms} over {seeds} test sets")

    assert first_model is not None
    print(f"\nlatency, seed-0 model ({len(first_model.features)} features), µs per call:")
    test_0 = X.iloc[splits[0].test]
    print(
        markdown_table(["call", "calls", "p50", "p95", "p99"], latency(first_model, test_0, calls))
    )
    rate = batch_rate(first_model, test_0)
    print(f"risk on all {len(test_0):,} test rows in one call: {rate:,.0f} rows/s")

    leaked = statistics.fmean(scores[LEAK].f1)
    print(
        f"\nsanity, NOT ALLOWED: with the failure-mode columns as inputs F1 would be {leaked:.3f}; "
        "they are labels. shopfloor's features hold none of them, nor UDI / Product ID: "
        f"{'yes' if not set(first_model.features) & NOT_INPUTS else 'NO'}."
    )
    mean_f1 = statistics.fmean(scores[SHOPFLOOR].f1)
    verdict = "OK" if mean_f1 >= TARGET_F1 else "FAIL"
    print(f"target F1 >= {TARGET_F1} (mean over {seeds} seed(s)): {mean_f1:.3f} {verdict}")


if __name__ == "__main__":
    main()
