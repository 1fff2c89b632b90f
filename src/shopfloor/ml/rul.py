"""Remaining useful life from run-to-failure histories: a LightGBM regressor on causal features.

Training reads complete histories (each unit's last row is its failure), labels every cycle with
the cycles left until failure capped at ``cap`` (early in life the remaining life cannot be seen
in the sensors, so the target is flat there), and fits a gradient-boosted regressor on the
windowed features of ``shopfloor.ml.rul_features``. Prediction reads histories cut short and
answers at each unit's last observed cycle, clipped to ``[0, cap]``.

The hyperparameters are a fixed, conservative setting rather than one tuned on C-MAPSS: shallow
trees, many rows per leaf (consecutive cycles of one engine are nearly the same sample, so a
leaf of a few rows would describe a single engine), row and feature subsampling, and a modest
number of rounds at a small learning rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd

from shopfloor.ml.cmapss import DEFAULT_CAP, SENSORS, rul_targets
from shopfloor.ml.rul_features import (
    SensorStats,
    feature_names,
    fit_sensor_stats,
    history_features,
    sort_history,
)

MODEL_FILE = "model.txt"
META_FILE = "meta.json"
FORMAT = 1

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.03,
    "num_iterations": 600,
    "num_leaves": 15,
    "max_depth": 5,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.7,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}


@dataclass
class RulModel:
    """A trained RUL regressor and everything needed to compute its features again."""

    booster: lightgbm.Booster
    features: list[str]
    sensors: list[str]
    cap: int
    params: dict[str, Any]
    sensor_stats: dict[str, SensorStats] = field(default_factory=dict)

    def feature_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature vector at each unit's last cycle: index ``unit``, columns ``features``."""
        every = history_features(frame, self.sensor_stats)
        last = every.groupby("unit", sort=True).tail(1).set_index("unit")
        return last[self.features]

    def predict_rows(self, features: pd.DataFrame) -> np.ndarray:
        """Predictions for rows of features (in ``features`` order), clipped to [0, cap]."""
        raw = self.booster.predict(features[self.features].to_numpy(np.float64))
        return np.clip(np.asarray(raw, dtype=np.float64), 0.0, float(self.cap))

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The predicted RUL at each unit's last cycle: columns ``unit``, ``rul``, by unit."""
        rows = self.feature_rows(frame)
        return pd.DataFrame({"unit": rows.index.to_numpy(), "rul": self.predict_rows(rows)})

    def save(self, folder: Path) -> None:
        """Write ``model.txt`` (LightGBM's text format) and ``meta.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / MODEL_FILE))
        meta = {
            "format": FORMAT,
            "kind": "rul",
            "features": self.features,
            "sensors": self.sensors,
            "cap": self.cap,
            "params": self.params,
            "sensor_stats": {name: s.as_dict() for name, s in self.sensor_stats.items()},
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> RulModel:
        """The model that ``save`` wrote into ``folder``."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ValueError(f"{folder}: no {META_FILE}: not a saved RUL model") from exc
        if meta.get("kind") != "rul" or meta.get("format") != FORMAT:
            raise ValueError(
                f"{folder / META_FILE}: not a RUL model of format {FORMAT}"
                f" (kind {meta.get('kind')!r}, format {meta.get('format')!r})"
            )
        booster = lightgbm.Booster(model_file=str(folder / MODEL_FILE))
        stats = {name: SensorStats(**values) for name, values in meta["sensor_stats"].items()}
        model = cls(
            booster=booster,
            features=list(meta["features"]),
            sensors=list(meta["sensors"]),
            cap=int(meta["cap"]),
            params=dict(meta["params"]),
            sensor_stats=stats,
        )
        if booster.feature_name() != model.features:
            raise ValueError(f"{folder}: {MODEL_FILE} and {META_FILE} list different features")
        return model


def train_rul(
    frame: pd.DataFrame,
    *,
    cap: int = DEFAULT_CAP,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    num_threads: int | None = None,
) -> RulModel:
    """Fit a RUL model on complete run-to-failure histories (every unit ends at its failure).

    Every cycle of every unit is a training sample, labelled with the cycles left, capped at
    ``cap``. ``params`` override ``DEFAULT_PARAMS`` (``num_iterations`` is the number of rounds);
    ``num_threads`` None leaves LightGBM's default (all cores).
    """
    if cap < 1:
        raise ValueError(f"cap must be a positive number of cycles, not {cap}")
    frame = sort_history(frame, [s for s in SENSORS if s in frame.columns])
    target = rul_targets(frame, cap)
    candidates = [s for s in SENSORS if s in frame.columns]
    stats = fit_sensor_stats(frame, target, candidates)
    sensors = list(stats)
    features = feature_names(sensors)
    table = history_features(frame, stats)

    chosen = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    if num_threads is not None:
        chosen["num_threads"] = num_threads
    rounds = int(chosen.pop("num_iterations"))
    data = lightgbm.Dataset(
        table[features].to_numpy(np.float64),
        label=target.to_numpy(np.float64),
        feature_name=features,
        free_raw_data=True,
    )
    booster = lightgbm.train(chosen, data, num_boost_round=rounds)
    return RulModel(booster, features, sensors, cap, {**chosen, "num_iterations": rounds}, stats)


def rmse(pred: Any, true: Any) -> float:
    """Root mean squared error."""
    d = _difference(pred, true)
    return float(np.sqrt(np.mean(d * d)))


def nasa_score(pred: Any, true: Any) -> float:
    """The PHM08 / C-MAPSS asymmetric score: late predictions (too much life) cost more.

    With ``d = pred - true``: the sum of ``exp(-d / 13) - 1`` for ``d < 0`` and
    ``exp(d / 10) - 1`` otherwise. Lower is better; 0 is perfect.
    """
    d = _difference(pred, true)
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


def _difference(pred: Any, true: Any) -> np.ndarray:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"{p.size} predictions for {t.size} true values")
    if p.size == 0:
        raise ValueError("no predictions to score")
    return p - t
