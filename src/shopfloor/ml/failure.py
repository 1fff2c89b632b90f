"""Machine-failure prediction from one run's process measurements: features, model, threshold.

Inputs are the product's quality variant (Type L / M / H) and five measurements: air and process
temperature [K], rotational speed [rpm], torque [Nm] and tool wear [min]. On top of them the model
reads three quantities with a physical meaning, because the ways a machine fails depend on them
rather than on any one measurement:

* ``temp_diff_k``: process minus air temperature. Heat leaves the process through this gradient;
  a small difference at low speed means heat is not dissipated.
* ``power_w``: mechanical power, torque x angular speed (rpm x 2 pi / 60). Too little or too much
  power both stress the drive.
* ``strain_nm_min``: torque x tool wear, the load a worn tool is asked to carry (overstrain).

Nothing else enters: the failure-mode columns (TWF, HDF, PWF, OSF, RNF) are outcomes, and ``UDI``
and ``Product ID`` only name rows. Frames that carry them can be passed in; the features are
computed from the allowed inputs only, so those columns are never read.

The classifier is LightGBM. Its decision threshold is picked on the training data alone: five
stratified inner folds give every training row a probability from a model that did not see it,
and the threshold that maximises F1 over those out-of-fold probabilities is stored with the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from shopfloor.ml.ai4i import MEASUREMENTS, TYPE, TYPE_COLUMN, TYPES

TYPE_CODE = "type_code"
RAW_FEATURES: list[str] = [TYPE_CODE, *MEASUREMENTS]
ENGINEERED_FEATURES: list[str] = ["temp_diff_k", "power_w", "strain_nm_min"]
FEATURES: list[str] = [*RAW_FEATURES, *ENGINEERED_FEATURES]
RAD_PER_S_PER_RPM = 2.0 * math.pi / 60.0
INNER_FOLDS = 5
FORMAT = "shopfloor.failure/1"
MODEL_FILE, META_FILE = "model.txt", "meta.json"

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_iterations": 300,
    "num_leaves": 8,
    "min_data_in_leaf": 10,
    # Failures sit in the sparse tails (low power, high strain) where LightGBM's default 255
    # quantile bins are widest, so a learnt limit could only fall tens of watts off; finer
    # bins let the split land between the nearest failed and healthy runs (AI4I F1 0.84 -> 0.90).
    "max_bin": 1023,
    "min_data_in_bin": 1,
    "deterministic": True,
    "verbose": -1,
}
# Every spelling LightGBM accepts for the number of boosting rounds.
_ROUND_ALIASES = (
    "num_iterations",
    "num_iteration",
    "n_iter",
    "num_tree",
    "num_trees",
    "num_round",
    "num_rounds",
    "nrounds",
    "num_boost_round",
    "n_estimators",
    "max_iter",
)


# -- features -------------------------------------------------------------------------------------
def _derive(
    type_code: Any, air: Any, process: Any, speed: Any, torque: Any, wear: Any
) -> dict[str, Any]:
    """The feature values in ``FEATURES`` order; works on floats and on arrays alike."""
    return {
        TYPE_CODE: type_code,
        "air_temp_k": air,
        "process_temp_k": process,
        "speed_rpm": speed,
        "torque_nm": torque,
        "tool_wear_min": wear,
        "temp_diff_k": process - air,
        "power_w": torque * speed * RAD_PER_S_PER_RPM,
        "strain_nm_min": torque * wear,
    }


def _type_code(value: Any) -> int:
    if isinstance(value, str) and value.strip() in TYPES:
        return TYPES.index(value.strip())
    raise ValueError(f"unknown product type {value!r}; expected one of {', '.join(TYPES)}")


def features_from_measurements(measurements: Mapping[str, float], type_: str) -> dict[str, float]:
    """One asset's latest measurements and product type -> one feature row (``FEATURES`` order).

    ``measurements`` is keyed by the short names (``air_temp_k``, ``process_temp_k``,
    ``speed_rpm``, ``torque_nm``, ``tool_wear_min``) or by the AI4I column names; other keys are
    ignored. The row also holds the inputs, so ``FailureModel.risk`` accepts it as it is.
    """
    values: dict[str, float] = {}
    missing = []
    for short, column in MEASUREMENTS.items():
        value = measurements.get(short, measurements.get(column))
        if value is None:
            missing.append(short)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"measurement {short!r} is {value!r}, not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"measurement {short!r} is {number}, not a finite number")
        values[short] = number
    if missing:
        raise ValueError(f"missing measurement(s) {', '.join(missing)}")
    row = _derive(float(_type_code(type_)), *values.values())
    return {name: float(row[name]) for name in FEATURES}


def engineer(X: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    """Every feature of ``FEATURES`` for each row of ``X``, as float64.

    ``X`` holds the product type as ``type`` (or the CSV's ``Type``: L / M / H) or as the number
    ``type_code`` (0 / 1 / 2), and the five measurements under their short or CSV names. A
    mapping is read as a single row. Other columns are ignored.
    """
    values = _feature_arrays(X)
    index = X.index if isinstance(X, pd.DataFrame) else None
    return pd.DataFrame(values, index=index)


def _feature_arrays(X: pd.DataFrame | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``engineer`` without the DataFrame: a single-row call is dominated by pandas otherwise."""
    if isinstance(X, Mapping):
        columns: Mapping[str, Any] = {k: np.asarray([v]) for k, v in X.items()}
    elif isinstance(X, pd.DataFrame):
        columns = X
    else:
        raise TypeError(f"expected a DataFrame or a mapping, got {type(X).__name__}")
    measured: list[np.ndarray] = []
    missing = []
    for short, csv_name in MEASUREMENTS.items():
        name = short if short in columns else csv_name
        if name not in columns:
            missing.append(short)
            continue
        measured.append(_finite(columns[name], short))
    codes = np.empty(0)
    if TYPE_CODE in columns:
        codes = _finite(columns[TYPE_CODE], TYPE_CODE)
        if not np.isin(codes, np.arange(len(TYPES))).all():
            raise ValueError(f"{TYPE_CODE} must be 0, 1 or 2 ({', '.join(TYPES)})")
    elif TYPE in columns or TYPE_COLUMN in columns:
        given = columns[TYPE if TYPE in columns else TYPE_COLUMN]
        dtype = getattr(given, "dtype", None)
        if isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == list(TYPES):
            # read_ai4i's categorical already holds the codes (-1 for a missing value).
            codes = given.cat.codes.to_numpy().astype("float64")
            codes[codes < 0] = np.nan
        else:
            types = np.asarray(given, dtype=object)
            codes = np.full(len(types), np.nan)
            for code, name in enumerate(TYPES):
                codes[types == name] = code
        if np.isnan(codes).any():
            bad = np.asarray(given, dtype=object)[np.isnan(codes)][0]
            raise ValueError(f"unknown product type {bad!r}; expected one of {', '.join(TYPES)}")
    else:
        missing.insert(0, TYPE)
    if missing:
        raise ValueError(f"missing input column(s) {', '.join(missing)}")
    return _derive(codes, *measured)


def _finite(column: Any, name: str) -> np.ndarray:
    try:
        if isinstance(column, pd.Series):
            values = column.to_numpy(dtype="float64")
        else:
            values = np.asarray(column, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(f"column {name!r} holds values that are not numbers") from None
    if not np.isfinite(values).all():
        raise ValueError(f"column {name!r} holds missing or non-finite values")
    return values


# -- the model ------------------------------------------------------------------------------------
@dataclass
class FailureModel:
    """A trained failure classifier: LightGBM booster, its features, and the decision threshold.

    ``params`` are the LightGBM parameters it was trained with (``num_iterations`` included);
    ``info`` records how the threshold was chosen (inner folds, their F1) and the training set's
    size.
    """

    booster: lightgbm.Booster
    features: list[str]
    threshold: float
    params: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def feature_rows(self, X: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
        """The model's input rows for ``X`` (see ``engineer``), columns in ``features`` order."""
        values = _feature_arrays(X)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame({name: values[name] for name in self.features}, index=index)

    def risk(self, X: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Probability of a machine failure for each row of ``X``, in [0, 1]."""
        values = _feature_arrays(X)
        rows = np.column_stack([values[name] for name in self.features])
        # One thread unless trained with more: a serving call scores a handful of rows, where
        # starting a thread team costs more than it saves.
        threads = int(self.params.get("num_threads", 1))
        return np.asarray(self.booster.predict(rows, num_threads=threads), dtype="float64")

    def predict(self, X: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """1 where a failure is predicted (risk at or above ``threshold``), else 0."""
        return (self.risk(X) >= self.threshold).astype("int64")

    def save(self, folder: str | Path) -> None:
        """``folder/model.txt`` (LightGBM's text format) and ``folder/meta.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / MODEL_FILE))
        meta = {
            "format": FORMAT,
            "features": self.features,
            "threshold": self.threshold,
            "types": list(TYPES),
            "params": self.params,
            "info": self.info,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> FailureModel:
        """The model ``save`` wrote to ``folder``; ValueError if the files do not fit together."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{folder / META_FILE}: not a failure model's metadata") from error
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{folder / META_FILE}: format is not {FORMAT!r}")
        features = list(meta["features"])
        unknown = [name for name in features if name not in FEATURES]
        if unknown or list(meta.get("types", TYPES)) != list(TYPES):
            raise ValueError(f"{folder}: features {unknown} or type codes this version lacks")
        booster = lightgbm.Booster(model_file=str(folder / MODEL_FILE))
        if booster.feature_name() != features:
            raise ValueError(f"{folder}: model.txt's features differ from meta.json's")
        return cls(booster, features, float(meta["threshold"]), meta["params"], meta["info"])


# -- training -------------------------------------------------------------------------------------
def choose_threshold(y: Sequence[int] | np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """``(threshold, F1)``: the cut of ``scores`` with the best F1 against ``y``.

    The threshold lies halfway between the lowest score called a failure and the next lower one,
    so the cut is not tied to one training row's exact probability.
    """
    labels = np.asarray(y, dtype="int64")
    scores = np.asarray(scores, dtype="float64")
    positives = int(labels.sum())
    if positives == 0 or len(labels) != len(scores):
        raise ValueError("need one score per label and at least one failure")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    true_positives = np.cumsum(hits)
    called = np.arange(1, len(ranked) + 1)
    f1 = 2.0 * true_positives / (called + positives)
    # Only cut between distinct scores: rows with equal scores cannot be told apart.
    f1[:-1][ranked[:-1] <= ranked[1:]] = -1.0
    best = int(np.argmax(f1))
    if best + 1 < len(ranked):
        threshold = float((ranked[best] + ranked[best + 1]) / 2.0)
    else:
        threshold = float(ranked[best])
    return threshold, float(f1[best])


def train_failure(
    X: pd.DataFrame,
    y: pd.Series | Sequence[int] | np.ndarray,
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    num_threads: int | None = None,
    features: Sequence[str] | None = None,
) -> FailureModel:
    """A LightGBM failure classifier of ``X`` (inputs as ``engineer`` reads them) and ``y`` (0/1).

    ``params`` override ``DEFAULT_PARAMS``; ``seed`` fixes the inner folds and LightGBM's seeds,
    so the same training data gives the same model. ``num_threads`` defaults to 1 (the data set
    is small: more threads mostly add synchronisation). ``features`` picks a subset of
    ``FEATURES`` (e.g. ``RAW_FEATURES`` for a model without the derived quantities).
    """
    names = list(FEATURES if features is None else features)
    unknown = [name for name in names if name not in FEATURES]
    if unknown or not names:
        raise ValueError(f"unknown feature(s) {unknown}; choose from {', '.join(FEATURES)}")
    values = _feature_arrays(X)
    matrix = np.column_stack([values[name] for name in names])
    labels = np.asarray(y, dtype="float64")
    if labels.shape != (len(matrix),):
        raise ValueError(f"{len(matrix)} rows of X but {labels.size} labels")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    labels = labels.astype("int64")
    failures = int(labels.sum())
    if failures < INNER_FOLDS or len(labels) - failures < INNER_FOLDS:
        raise ValueError(f"need at least {INNER_FOLDS} failures and {INNER_FOLDS} healthy rows")

    given = dict(params or {})
    rounds = int(
        next((given[k] for k in _ROUND_ALIASES if k in given), DEFAULT_PARAMS["num_iterations"])
    )
    # The rounds go to lightgbm.train as an argument, so no alias of them stays in the params.
    merged = {k: v for k, v in {**DEFAULT_PARAMS, **given}.items() if k not in _ROUND_ALIASES}
    merged["seed"] = seed
    merged["num_threads"] = 1 if num_threads is None else int(num_threads)

    def fit(rows: np.ndarray) -> lightgbm.Booster:
        data = lightgbm.Dataset(matrix[rows], labels[rows], feature_name=names)
        return lightgbm.train(merged, data, num_boost_round=rounds)

    out_of_fold = np.empty(len(labels))
    folds = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed)
    for inside, outside in folds.split(matrix, labels):
        out_of_fold[outside] = fit(inside).predict(matrix[outside])
    threshold, inner_f1 = choose_threshold(labels, out_of_fold)
    called = out_of_fold >= threshold
    hits = int((called & (labels == 1)).sum())
    booster = fit(np.arange(len(labels)))
    info = {
        "rows": len(labels),
        "failures": failures,
        "inner_folds": INNER_FOLDS,
        "inner_f1": inner_f1,
        "inner_precision": hits / max(int(called.sum()), 1),
        "inner_recall": hits / failures,
        "lightgbm": lightgbm.__version__,
    }
    return FailureModel(booster, names, threshold, {**merged, "num_iterations": rounds}, info)
