"""Training from files, evaluated honestly, and registered: the work behind
``shopfloor models train`` and ``models predict``.

Each model is scored on data it never saw (whole engines held out and cut at a random cycle for
remaining useful life; a stratified split for failures), then refitted on all of the file; the
registered version carries the held-out figures as ``holdout_*`` metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shopfloor.ml.registry import Registry, VersionInfo, data_fingerprint, signature_of

HOLDOUT_SHARE = 0.2
SEED = 0
MIN_KEPT_CYCLES = 30


def truncated(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Each unit cut at a random cycle, as a test set is; the true RUL of each (uncapped)."""
    rng = np.random.default_rng(seed)
    kept: list[pd.DataFrame] = []
    truth: dict[int, int] = {}
    for unit, rows in frame.groupby("unit", sort=True):
        rows = rows.sort_values("cycle")
        keep = int(rng.integers(min(MIN_KEPT_CYCLES, len(rows)), len(rows) + 1))
        kept.append(rows.iloc[:keep])
        truth[int(unit)] = len(rows) - keep
    return pd.concat(kept), pd.Series(truth, name="rul")


def held_out_engines(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Training histories, and a share of whole units kept apart and cut at random cycles,
    with their true RUL: (train, test, truth)."""
    units = np.array(sorted(frame["unit"].unique()))
    rng = np.random.default_rng(SEED)
    held = set(rng.choice(units, max(1, round(len(units) * HOLDOUT_SHARE)), replace=False))
    test, truth = truncated(frame[frame["unit"].isin(held)], SEED)
    return frame[~frame["unit"].isin(held)], test, truth


def train_rul_from_file(registry: Registry, path: Path, name: str) -> VersionInfo:
    from shopfloor.ml.cmapss import read_cmapss
    from shopfloor.ml.rul import nasa_score, rmse, train_rul

    frame = read_cmapss(path)
    train, test, truth = held_out_engines(frame)
    evaluated = train_rul(train, seed=SEED)
    predicted = evaluated.predict_frame(test).set_index("unit")["rul"]
    capped = truth.clip(upper=evaluated.cap).loc[predicted.index]
    metrics = {
        "holdout_rmse": rmse(predicted.to_numpy(), capped.to_numpy()),
        "holdout_nasa_score": nasa_score(predicted.to_numpy(), capped.to_numpy()),
        "holdout_units": float(len(truth)),
        "training_rows": float(len(frame)),
    }
    model = train_rul(frame, seed=SEED)
    return registry.log_model(
        name,
        "rul",
        model,
        params={k: v for k, v in model.params.items() if k != "seed"} | {"cap": model.cap},
        metrics=metrics,
        fingerprint=data_fingerprint(frame),
        signature=signature_of(model.feature_rows(frame)),
        description=f"trained on {path.name}: {frame['unit'].nunique()} units",
    )


def predict_rul_to_file(
    registry: Registry, reference: str, path: Path, out: Path
) -> tuple[VersionInfo, int]:
    from shopfloor.ml.cmapss import read_cmapss
    from shopfloor.ml.rul import RulModel

    info = registry.resolve(reference)
    model = registry.load(info, {"rul": RulModel.load})
    predictions = model.predict_frame(read_cmapss(path))
    predictions.to_csv(out, index=False, columns=["unit", "rul"], float_format="%.2f")
    return info, len(predictions)


def train_failure_from_file(registry: Registry, path: Path, name: str) -> VersionInfo:
    from sklearn.metrics import f1_score, precision_score, recall_score
    from sklearn.model_selection import train_test_split

    from shopfloor.ml.ai4i import read_ai4i
    from shopfloor.ml.failure import train_failure

    features, labels, _modes = read_ai4i(path)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=HOLDOUT_SHARE, stratify=labels, random_state=SEED
    )
    evaluated = train_failure(x_train, y_train, seed=SEED)
    predicted = evaluated.predict(x_test)
    metrics = {
        "holdout_f1": float(f1_score(y_test, predicted)),
        "holdout_precision": float(precision_score(y_test, predicted, zero_division=0)),
        "holdout_recall": float(recall_score(y_test, predicted)),
        "training_rows": float(len(features)),
    }
    model = train_failure(features, labels, seed=SEED)
    frame = features.assign(label=labels)
    return registry.log_model(
        name,
        "failure",
        model,
        params={k: v for k, v in model.params.items() if k != "seed"}
        | {"threshold": model.threshold},
        metrics=metrics,
        fingerprint=data_fingerprint(frame),
        signature=signature_of(model.feature_rows(features)),
        description=f"trained on {path.name}: {len(features)} rows",
    )
