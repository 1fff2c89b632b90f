"""C-MAPSS reading, causal RUL features and the LightGBM RUL model.

Most tests run on small synthetic run-to-failure histories (a few sensors drift exponentially
towards failure, the rest are flat or noise), so they need no data; the accuracy test reads the
real FD001 training file from ``../shared/data/cmapss`` and skips when it is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopfloor.ml.cmapss import COLUMNS, read_cmapss, rul_targets
from shopfloor.ml.rul import RulModel, nasa_score, rmse, train_rul
from shopfloor.ml.rul_features import fit_sensor_stats, history_features

CMAPSS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmapss"
FAST = {"num_iterations": 120, "learning_rate": 0.08, "min_data_in_leaf": 40}
DRIFTING = ("s_2", "s_3", "s_4", "s_7", "s_11")


def synthetic(units: range, seed: int = 0) -> pd.DataFrame:
    """Run-to-failure histories: five sensors drift towards failure, s_1 is flat, others noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for unit in units:
        length = int(rng.integers(90, 160))
        cycle = np.arange(1, length + 1)
        wear = np.exp(4.0 * cycle / length) / math.exp(4.0)  # 0.02 -> 1 at failure
        part = pd.DataFrame({"unit": unit, "cycle": cycle})
        for i in range(1, 4):
            part[f"setting_{i}"] = rng.normal(0, 0.001, length)
        for i in range(1, 22):
            name = f"s_{i}"
            if name == "s_1":
                part[name] = 518.67
            elif name in DRIFTING:
                sign = 1 if i % 2 else -1
                offset = rng.normal(0, 0.2)  # initial wear differs between engines
                part[name] = 100 + offset + sign * 3 * wear + rng.normal(0, 0.3, length)
            else:
                part[name] = rng.normal(50, 1, length)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return synthetic(range(1, 31))


@pytest.fixture(scope="module")
def model(history: pd.DataFrame) -> RulModel:
    return train_rul(history[history["unit"] <= 24], params=FAST, num_threads=1)


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "train_FDxxx.txt"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def row(unit: int, cycle: int, fill: str = "1.5") -> str:
    return " ".join([str(unit), str(cycle), *([fill] * 24)]) + "  "  # NASA's trailing spaces


# -- reading --------------------------------------------------------------------------------------
def test_read_names_columns_sorts_and_skips_blank_lines(tmp_path: Path) -> None:
    frame = read_cmapss(write(tmp_path, [row(2, 1), "", row(1, 2), row(1, 1, "-0.0007")]))
    assert list(frame.columns) == COLUMNS
    assert frame[["unit", "cycle"]].values.tolist() == [[1, 1], [1, 2], [2, 1]]
    assert frame["unit"].dtype == np.int64 and frame["s_21"].dtype == np.float64
    assert frame.loc[0, "setting_1"] == -0.0007


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([row(1, 1), "1 2 3"], r"line 2: expected 26 numbers .* found 3"),
        ([row(1, 1), row(1, 2) + " 7"], r"line 2: expected 26 numbers .* found 27"),
        ([row(1, 1), row(1, 2), row(1, 3, "abc")], r"line 3: setting_1 is 'abc', not a finite"),
        ([row(1, 1, "nan")], r"line 1: setting_1 is 'nan'"),
        ([row(1, 1), "1.5 " + row(1, 2)[2:]], r"line 2: unit is '1.5', not a positive integer"),
        ([row(1, 1), row(1, 0)], r"line 2: cycle is '0', not a positive integer"),
        ([row(1, 1), row(2, 1), row(1, 1)], r"line 3: unit 1 cycle 1 is repeated .*line 1"),
        (["", "  "], r"no rows"),
    ],
)
def test_read_rejects_a_malformed_file_naming_the_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = write(tmp_path, lines)
    with pytest.raises(ValueError, match=message) as caught:
        read_cmapss(path)
    assert str(path) in str(caught.value)


def test_targets_count_cycles_to_the_last_one_capped() -> None:
    frame = pd.DataFrame({"unit": [1, 1, 1, 2, 2], "cycle": [1, 2, 3, 1, 2]})
    assert rul_targets(frame).tolist() == [2, 1, 0, 1, 0]
    assert rul_targets(frame, cap=1).tolist() == [1, 1, 0, 1, 0]
    long = pd.DataFrame({"unit": 1, "cycle": np.arange(1, 201)})
    assert rul_targets(long).iloc[0] == 125 and rul_targets(long, cap=None).iloc[0] == 199


# -- features -------------------------------------------------------------------------------------
def test_flat_and_unrelated_sensors_are_dropped(history: pd.DataFrame) -> None:
    stats = fit_sensor_stats(history, rul_targets(history), [f"s_{i}" for i in range(1, 22)])
    assert sorted(stats) == sorted(DRIFTING)


def test_features_at_a_cycle_ignore_later_rows(model: RulModel, history: pd.DataFrame) -> None:
    full = history_features(history, model.sensor_stats)
    for cut in (1, 2, 7, 33, 60):
        early = history[history["cycle"] <= cut]
        part = history_features(early, model.sensor_stats)
        expected = full[full["cycle"] <= cut].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expected, check_exact=True)
        # The served vector at the last kept cycle is the full history's row at that cycle.
        rows = model.feature_rows(early)
        at_cut = expected[expected["cycle"] == cut].set_index("unit")[model.features]
        pd.testing.assert_frame_equal(rows, at_cut, check_exact=True, check_names=False)


def test_features_of_a_unit_ignore_other_units(model: RulModel, history: pd.DataFrame) -> None:
    alone = history_features(history[history["unit"] == 5], model.sensor_stats)
    together = history_features(history, model.sensor_stats)
    mine = together[together["unit"] == 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, mine, check_exact=True)


def test_features_know_the_trend(model: RulModel) -> None:
    cycle = np.arange(1, 51)
    frame = pd.DataFrame({"unit": 1, "cycle": cycle})
    for name in model.sensors:
        frame[name] = 2.0 * cycle * model.sensor_stats[name].std + 7.0
    last = history_features(frame, model.sensor_stats).iloc[-1]
    name = model.sensors[0]
    for w in ("10", "20", "40", "all"):
        assert last[f"{name}_slope{w}"] == pytest.approx(2.0)
    assert last[f"{name}_mean10"] - last[f"{name}_mean20"] == pytest.approx(2.0 * 5)
    assert last["cycle"] == 50


# -- the model ------------------------------------------------------------------------------------
def test_predict_frame_is_one_row_per_unit(model: RulModel, history: pd.DataFrame) -> None:
    test = history[(history["unit"] > 24) & (history["cycle"] <= 70)].sample(frac=1, random_state=1)
    predicted = model.predict_frame(test)
    assert list(predicted.columns) == ["unit", "rul"]
    assert predicted["unit"].tolist() == list(range(25, 31))
    assert predicted["rul"].between(0, model.cap).all()
    rows = model.feature_rows(test)
    assert rows.index.tolist() == list(range(25, 31)) and list(rows.columns) == model.features


def test_prediction_needs_the_sensors_it_was_trained_on(
    model: RulModel, history: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match=model.sensors[0]):
        model.predict_frame(history.drop(columns=[model.sensors[0]]))


def test_prediction_refuses_missing_readings(model: RulModel, history: pd.DataFrame) -> None:
    gap = history.copy()
    gap.loc[5, model.sensors[1]] = np.nan
    with pytest.raises(ValueError, match=f"missing values in column {model.sensors[1]}"):
        model.predict_frame(gap)


def test_save_and_load_give_identical_predictions(
    model: RulModel, history: pd.DataFrame, tmp_path: Path
) -> None:
    test = history[history["unit"] > 24]
    model.save(tmp_path / "rul")
    assert {p.name for p in (tmp_path / "rul").iterdir()} == {"model.txt", "meta.json"}
    loaded = RulModel.load(tmp_path / "rul")
    assert (loaded.features, loaded.sensors, loaded.cap) == (
        model.features,
        model.sensors,
        model.cap,
    )
    assert loaded.params == model.params and loaded.sensor_stats == model.sensor_stats
    pd.testing.assert_frame_equal(
        loaded.predict_frame(test), model.predict_frame(test), check_exact=True
    )


def test_load_refuses_a_folder_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"meta\.json"):
        RulModel.load(tmp_path)


def test_training_is_reproducible(history: pd.DataFrame) -> None:
    train = history[history["unit"] <= 10]
    small = {**FAST, "num_iterations": 20}
    first = train_rul(train, params=small, seed=3, num_threads=1).predict_frame(history)
    again = train_rul(train, params=small, seed=3, num_threads=1).predict_frame(history)
    pd.testing.assert_frame_equal(first, again, check_exact=True)


def test_scores() -> None:
    assert rmse([3, 5], [0, 1]) == pytest.approx(math.sqrt((9 + 16) / 2))
    # Early by 13 costs e - 1, late by 10 costs e - 1: lateness is punished sooner.
    assert nasa_score([0, 20], [13, 10]) == pytest.approx(2 * (math.e - 1))
    assert nasa_score([5], [5]) == 0
    with pytest.raises(ValueError, match="2 predictions for 1"):
        rmse([1, 2], [1])


# -- FD001 ----------------------------------------------------------------------------------------
def test_fd001_held_out_engines_beat_the_mean() -> None:
    path = CMAPSS / "train_FD001.txt"
    if not path.exists():
        pytest.skip(f"no C-MAPSS data at {path}")
    frame = read_cmapss(path)
    train, test = frame[frame["unit"] <= 40], frame[frame["unit"] > 80]
    model = train_rul(train, params=FAST, num_threads=1)
    # Cut each held-out engine as the official test set is, at a seeded random cycle.
    rng = np.random.default_rng(0)
    kept, true = [], []
    for _, rows in test.groupby("unit"):
        k = int(rng.integers(30, len(rows) + 1))
        kept.append(rows.iloc[:k])
        true.append(min(len(rows) - k, 125))
    predicted = model.predict_frame(pd.concat(kept))
    assert len(predicted) == 20
    error = rmse(predicted["rul"], true)
    baseline = rmse(np.full(len(true), rul_targets(train).mean()), true)
    assert error < 25, error
    assert error < baseline / 2, (error, baseline)
