"""Failure prediction on AI4I 2020 (``shopfloor.ml.ai4i``, ``shopfloor.ml.failure``).

The failure-mode columns (TWF, HDF, PWF, OSF, RNF) are labels and ``UDI`` / ``Product ID`` name
rows: none of them may become a feature. The decision threshold comes from the training rows
alone. Tests on the real data set read it from ``../shared/data/ai4i2020`` and skip without it;
the others use small synthetic runs with the same columns.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from shopfloor.ml.ai4i import IDENTIFIERS, MEASUREMENTS, MODES, NOT_INPUTS, read_ai4i
from shopfloor.ml.failure import (
    FEATURES,
    RAW_FEATURES,
    FailureModel,
    choose_threshold,
    engineer,
    features_from_measurements,
    train_failure,
)

AI4I = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ai4i2020" / "ai4i2020.csv"
FAST = {"num_iterations": 60}  # enough for the synthetic rules, a fraction of a second per fit
HEADER = (
    "UDI,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],"
    "Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF"
)


def synthetic(rows: int = 1500, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Runs shaped like AI4I's, failing on overstrain or too little power (plus 1 % noise)."""
    rng = np.random.default_rng(seed)
    air = rng.normal(300.0, 2.0, rows)
    X = pd.DataFrame(
        {
            "type": pd.Categorical(rng.choice(["L", "M", "H"], rows, p=[0.6, 0.3, 0.1])),
            "air_temp_k": air,
            "process_temp_k": air + 10.0 + rng.normal(0.0, 1.0, rows),
            "speed_rpm": rng.normal(1540.0, 180.0, rows),
            "torque_nm": rng.normal(40.0, 10.0, rows),
            "tool_wear_min": rng.uniform(0.0, 250.0, rows),
        }
    )
    power = X.torque_nm * X.speed_rpm * 2 * math.pi / 60
    failed = (X.torque_nm * X.tool_wear_min > 10_500) | (power < 4_000)
    failed ^= rng.random(rows) < 0.01
    return X, failed.astype("int64").rename("machine_failure")


def with_labels_and_ids(X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """X plus every column that must not be read; each of them gives the answer away."""
    extra = {mode: y.to_numpy() for mode in MODES}
    extra |= {"UDI": np.where(y == 1, 0, np.arange(1, len(y) + 1)), "Product ID": y.astype(str)}
    extra |= {"Machine failure": y.to_numpy(), "machine_failure": y.to_numpy()}
    return X.assign(**extra)


@pytest.fixture(scope="module")
def ai4i() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    if not AI4I.exists():
        pytest.skip(f"the AI4I 2020 data set is not at {AI4I} (see ../shared/data/README.md)")
    return read_ai4i(AI4I)


@pytest.fixture(scope="module")
def held_out(ai4i: tuple[pd.DataFrame, pd.Series, pd.DataFrame]) -> dict:
    """The default model on a stratified 80 % of AI4I, and the 20 % it never saw."""
    X, y, _ = ai4i
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=0)
    model = train_failure(X.iloc[train], y.iloc[train], seed=0, num_threads=1)
    return {"model": model, "X": X.iloc[test], "y": y.iloc[test]}


# -- reading the data set -----------------------------------------------------------------------
def test_read_ai4i_splits_inputs_target_and_modes(
    ai4i: tuple[pd.DataFrame, pd.Series, pd.DataFrame],
) -> None:
    X, y, modes = ai4i
    assert list(X.columns) == ["type", *MEASUREMENTS]
    assert not set(X.columns) & NOT_INPUTS
    assert list(X["type"].cat.categories) == ["L", "M", "H"]
    assert (len(X), int(y.sum())) == (10_000, 339)
    assert list(modes.columns) == list(MODES)
    assert set(np.unique(modes.to_numpy())) == {0, 1}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ai4i.csv"
    path.write_text(text)
    return path


GOOD_ROW = "1,M14860,M,298.1,308.6,1551,42.8,0,0,0,0,0,0,0"


def test_a_well_formed_file_reads(tmp_path: Path) -> None:
    X, y, modes = read_ai4i(write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n"))
    assert X.iloc[0].to_dict() == {
        "type": "M",
        "air_temp_k": 298.1,
        "process_temp_k": 308.6,
        "speed_rpm": 1551.0,
        "torque_nm": 42.8,
        "tool_wear_min": 0.0,
    }
    assert y.tolist() == [0] and modes.shape == (1, 5)


@pytest.mark.parametrize("dropped", ["Torque [Nm]", "Type", "Machine failure", "OSF"])
def test_a_missing_column_is_named(tmp_path: Path, dropped: str) -> None:
    names = HEADER.split(",")
    keep = [i for i, name in enumerate(names) if name != dropped]
    text = "\n".join(",".join(line.split(",")[i] for i in keep) for line in (HEADER, GOOD_ROW))
    with pytest.raises(ValueError, match=rf"missing column\(s\) '{re.escape(dropped)}'"):
        read_ai4i(write(tmp_path, text + "\n"))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,M1,X,298.1,308.6,1551,42.8,0,0,0,0,0,0,0", r"'Type' has 'X'"),
        ("1,M1,M,warm,308.6,1551,42.8,0,0,0,0,0,0,0", r"Air temperature \[K\].*'warm'"),
        ("1,M1,M,298.1,308.6,,42.8,0,0,0,0,0,0,0", r"Rotational speed \[rpm\]"),
        ("1,M1,M,298.1,308.6,1551,42.8,0,2,0,0,0,0,0", r"Machine failure.*only 0 and 1"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_ai4i(write(tmp_path, f"{HEADER}\n{row}\n"))


@pytest.mark.parametrize("text", ["", f"{HEADER}\n", "\x00\x01binary"])
def test_an_empty_or_unreadable_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match=r"ai4i\.csv"):
        read_ai4i(write(tmp_path, text))


# -- what the model reads -----------------------------------------------------------------------
def test_features_hold_no_label_and_no_identifier() -> None:
    X, y = synthetic()
    model = train_failure(with_labels_and_ids(X, y), y, params=FAST)
    assert model.features == FEATURES
    forbidden = {name.lower() for name in (*MODES, *IDENTIFIERS, "machine failure", "udi")}
    for feature in model.features:
        assert not any(word in feature.lower() for word in forbidden), feature
    assert model.booster.feature_name() == FEATURES
    assert list(model.feature_rows(with_labels_and_ids(X, y)).columns) == FEATURES


def test_label_and_identifier_columns_are_never_read() -> None:
    """The same model, to the byte, whether or not the frame carries the answer in other columns."""
    X, y = synthetic()
    clean = train_failure(X, y, params=FAST)
    leaky = train_failure(with_labels_and_ids(X, y), y, params=FAST)
    assert leaky.threshold == clean.threshold
    assert leaky.booster.model_to_string() == clean.booster.model_to_string()


def test_derived_features_are_the_physical_quantities() -> None:
    row = features_from_measurements(
        {"air_temp_k": 300.0, "process_temp_k": 310.5, "speed_rpm": 1500, "torque_nm": 40.0,
         "tool_wear_min": 100},
        "H",
    )  # fmt: skip
    assert list(row) == FEATURES
    assert row["type_code"] == 2.0
    assert row["temp_diff_k"] == pytest.approx(10.5)
    assert row["power_w"] == pytest.approx(40.0 * 1500 * 2 * math.pi / 60)  # 6283 W
    assert row["strain_nm_min"] == pytest.approx(4000.0)


def test_features_from_measurements_matches_feature_rows() -> None:
    X, y = synthetic(rows=300)
    model = train_failure(X, y, params=FAST)
    first = X.iloc[[0]]
    csv_names = {column: float(first[short].iloc[0]) for short, column in MEASUREMENTS.items()}
    row = features_from_measurements(csv_names, str(first["type"].iloc[0]))
    expected = model.feature_rows(first).iloc[0].to_dict()
    assert row == pytest.approx(expected)
    assert model.risk(row) == pytest.approx(model.risk(first))
    assert model.risk(row).shape == (1,)


@pytest.mark.parametrize(
    ("measurements", "type_", "message"),
    [
        ({"air_temp_k": 300.0}, "L", "missing measurement"),
        (dict.fromkeys(MEASUREMENTS, 1.0), "Q", "unknown product type 'Q'"),
        ({**dict.fromkeys(MEASUREMENTS, 1.0), "torque_nm": float("nan")}, "L", "torque_nm"),
    ],
)
def test_features_from_measurements_rejects_bad_input(
    measurements: dict, type_: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        features_from_measurements(measurements, type_)


def test_training_rejects_missing_inputs_and_bad_labels() -> None:
    X, y = synthetic(rows=200)
    with pytest.raises(ValueError, match="missing input column"):
        train_failure(X.drop(columns=["torque_nm"]), y)
    with pytest.raises(ValueError, match="0 or 1"):
        train_failure(X, y * 2)
    with pytest.raises(ValueError, match="unknown feature"):
        train_failure(X, y, features=[*RAW_FEATURES, "TWF"])
    with pytest.raises(ValueError, match="unknown product type"):
        engineer(X.assign(type="Z"))


# -- the threshold ------------------------------------------------------------------------------
def test_choose_threshold_cuts_halfway_at_the_best_f1() -> None:
    # Cutting after the fourth score: 3 of 3 failures in 4 calls, F1 6/7.
    threshold, f1 = choose_threshold([1, 1, 0, 1, 0], np.array([0.9, 0.8, 0.7, 0.2, 0.1]))
    assert threshold == pytest.approx(0.15)
    assert f1 == pytest.approx(6 / 7)


def test_choose_threshold_never_splits_tied_scores() -> None:
    threshold, f1 = choose_threshold([1, 0, 0], np.array([0.5, 0.5, 0.1]))
    assert threshold == pytest.approx(0.3)
    assert f1 == pytest.approx(2 / 3)


def test_threshold_comes_from_the_training_rows_alone() -> None:
    """Deterministic in the training rows, and exactly the best cut of their out-of-fold risk."""
    X, y = synthetic()
    train, _ = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=1)
    X_train, y_train = X.iloc[train], y.iloc[train]
    model = train_failure(X_train, y_train, params=FAST, seed=3)
    again = train_failure(X_train.copy(), y_train.copy(), params=FAST, seed=3)
    assert again.threshold == model.threshold
    assert again.booster.model_to_string() == model.booster.model_to_string()

    # Redo the inner folds by hand from the training rows only: the same threshold comes out.
    matrix = engineer(X_train).to_numpy()
    labels = y_train.to_numpy()
    params = {k: v for k, v in model.params.items() if k != "num_iterations"}
    oof = np.empty(len(labels))
    for inside, outside in StratifiedKFold(5, shuffle=True, random_state=3).split(matrix, labels):
        booster = lightgbm.train(
            params,
            lightgbm.Dataset(matrix[inside], labels[inside], feature_name=FEATURES),
            num_boost_round=model.params["num_iterations"],
        )
        oof[outside] = booster.predict(matrix[outside])
    threshold, f1 = choose_threshold(labels, oof)
    assert model.threshold == threshold
    assert model.info["inner_f1"] == pytest.approx(f1)
    assert model.info["rows"] == len(train)
    assert 0.0 < model.threshold < 1.0


# -- on AI4I ------------------------------------------------------------------------------------
def test_held_out_f1_on_ai4i(held_out: dict) -> None:
    model: FailureModel = held_out["model"]
    risk = model.risk(held_out["X"])
    assert ((risk >= 0.0) & (risk <= 1.0)).all()
    called = model.predict(held_out["X"])
    assert np.array_equal(called, (risk >= model.threshold).astype(int))
    assert f1_score(held_out["y"], called) > 0.75  # 0.887 at the time of writing


def test_save_and_load_give_the_same_model(held_out: dict, tmp_path: Path) -> None:
    model: FailureModel = held_out["model"]
    model.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["meta.json", "model.txt"]
    loaded = FailureModel.load(tmp_path / "model")
    assert loaded.features == model.features
    assert loaded.threshold == model.threshold
    assert loaded.params == model.params
    assert loaded.info == model.info
    assert np.array_equal(loaded.risk(held_out["X"]), model.risk(held_out["X"]))
    assert np.array_equal(loaded.predict(held_out["X"]), model.predict(held_out["X"]))


def test_load_refuses_files_that_do_not_fit(held_out: dict, tmp_path: Path) -> None:
    model: FailureModel = held_out["model"]
    model.save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "features": [*FEATURES[:-1], "TWF"]}))
    with pytest.raises(ValueError, match="TWF"):
        FailureModel.load(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="metadata"):
        FailureModel.load(tmp_path)
