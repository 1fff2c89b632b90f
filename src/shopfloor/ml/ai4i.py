"""The AI4I 2020 predictive-maintenance data set (Matzka, 2020): inputs, target and failure modes.

The CSV has one row per machining run: ``UDI`` (row number), ``Product ID``, ``Type`` (product
quality variant L / M / H), five process measurements, ``Machine failure`` and the five failure
modes that explain it (TWF tool wear, HDF heat dissipation, PWF power, OSF overstrain, RNF
random). The modes are labels: they are only known once the machine has failed, so a model that
reads them predicts nothing. ``read_ai4i`` therefore returns them apart from the inputs, and the
inputs are only Type and the five measurements; ``UDI`` and ``Product ID`` identify rows and
never become inputs either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# The short names the rest of the package uses; brackets and spaces in the CSV's names are not
# allowed in LightGBM feature names.
MEASUREMENTS: dict[str, str] = {
    "air_temp_k": "Air temperature [K]",
    "process_temp_k": "Process temperature [K]",
    "speed_rpm": "Rotational speed [rpm]",
    "torque_nm": "Torque [Nm]",
    "tool_wear_min": "Tool wear [min]",
}
TYPE = "type"
TYPE_COLUMN = "Type"
TYPES = ("L", "M", "H")  # low, medium, high quality: an order, so it is kept as one
TARGET = "machine_failure"
TARGET_COLUMN = "Machine failure"
MODES = ("TWF", "HDF", "PWF", "OSF", "RNF")
IDENTIFIERS = ("UDI", "Product ID")
INPUTS: tuple[str, ...] = (TYPE, *MEASUREMENTS)
# Every column name that must never become a feature, in both spellings where there are two.
NOT_INPUTS: frozenset[str] = frozenset({*MODES, *IDENTIFIERS, TARGET, TARGET_COLUMN})


def read_ai4i(path: str | Path) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """``(X, y, modes)`` of an AI4I 2020 CSV.

    ``X`` has the columns ``type`` (an ordered categorical of L < M < H) and the five
    measurements under the short names of ``MEASUREMENTS``, as float64; ``y`` is
    ``machine_failure`` (int 0/1); ``modes`` holds TWF, HDF, PWF, OSF and RNF (int 0/1), for
    evaluation only. Raises ValueError when a column is missing or a value is not usable.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    required = [TYPE_COLUMN, *MEASUREMENTS.values(), TARGET_COLUMN, *MODES]
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; an AI4I 2020 file has "
            f"{', '.join(map(repr, required))}"
        )
    if frame.empty:
        raise ValueError(f"{path}: no rows")

    X = pd.DataFrame(index=frame.index)
    types = frame[TYPE_COLUMN].astype("string").str.strip()
    unknown = sorted(set(types.dropna()) - set(TYPES))
    if unknown or types.isna().any():
        shown = ", ".join(map(repr, unknown[:5])) or "an empty value"
        raise ValueError(f"{path}: column 'Type' has {shown}; expected one of {', '.join(TYPES)}")
    X[TYPE] = pd.Categorical(types.astype(object), categories=list(TYPES), ordered=True)
    for short, column in MEASUREMENTS.items():
        X[short] = _numbers(frame[column], f"{path}: column {column!r}")
    y = _flags(frame[TARGET_COLUMN], f"{path}: column {TARGET_COLUMN!r}").rename(TARGET)
    modes = pd.DataFrame({mode: _flags(frame[mode], f"{path}: column {mode!r}") for mode in MODES})
    return X, y, modes


def _numbers(column: pd.Series, where: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: {column.iloc[row]!r} at row {row} is not a finite number")
    return values


def _flags(column: pd.Series, where: str) -> pd.Series:
    values = _numbers(column, where)
    if not values.isin([0.0, 1.0]).all():
        raise ValueError(f"{where}: expected only 0 and 1")
    return values.astype("int64")
