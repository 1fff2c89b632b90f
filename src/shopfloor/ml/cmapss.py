"""NASA C-MAPSS turbofan run-to-failure files: reading them and the training target.

A C-MAPSS file (``train_FD001.txt`` and its siblings) is plain text, one row per engine and
operating cycle, 26 numbers separated by spaces: unit, cycle, three operational settings and 21
sensor measurements (Saxena et al., PHM08). The files as shipped end their lines with spaces, so
any run of whitespace separates fields.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

SETTINGS = [f"setting_{i}" for i in range(1, 4)]
SENSORS = [f"s_{i}" for i in range(1, 22)]
COLUMNS = ["unit", "cycle", *SETTINGS, *SENSORS]
DEFAULT_CAP = 125  # the customary cap on the training target: early life counts as "healthy"


def read_cmapss(path: Path | str) -> pd.DataFrame:
    """The rows of a C-MAPSS file, sorted by unit then cycle, with named columns.

    ``unit`` and ``cycle`` are integers, the other 24 columns floats. Blank lines are skipped. A
    line with other than 26 fields, a field that is not a finite number, a unit or cycle that is
    not a positive integer, or a (unit, cycle) pair seen before raises ``ValueError`` naming the
    file and the line.
    """
    path = Path(path)
    rows: list[list[float]] = []
    seen: dict[tuple[int, int], int] = {}
    with path.open(encoding="ascii", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            rows.append(_parse_line(path, number, fields))
            key = (int(rows[-1][0]), int(rows[-1][1]))
            if key in seen:
                raise ValueError(
                    f"{path}: line {number}: unit {key[0]} cycle {key[1]} is repeated"
                    f" (first on line {seen[key]})"
                )
            seen[key] = number
    if not rows:
        raise ValueError(f"{path}: no rows: a C-MAPSS file has {len(COLUMNS)} numbers per line")
    frame = pd.DataFrame(np.asarray(rows, dtype=np.float64), columns=COLUMNS)
    frame = frame.astype({"unit": np.int64, "cycle": np.int64})
    return frame.sort_values(["unit", "cycle"], kind="stable", ignore_index=True)


def _parse_line(path: Path, number: int, fields: list[str]) -> list[float]:
    if len(fields) != len(COLUMNS):
        raise ValueError(
            f"{path}: line {number}: expected {len(COLUMNS)} numbers (unit, cycle, 3 settings,"
            f" 21 sensors), found {len(fields)}"
        )
    values: list[float] = []
    for column, text in zip(COLUMNS, fields, strict=True):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"{path}: line {number}: {column} is {text!r}, not a finite number")
        values.append(value)
    for column, value in zip(COLUMNS[:2], values[:2], strict=True):
        if value < 1 or not value.is_integer():
            raise ValueError(
                f"{path}: line {number}: {column} is {fields[COLUMNS.index(column)]!r},"
                " not a positive integer"
            )
    return values


def rul_targets(frame: pd.DataFrame, cap: int | None = DEFAULT_CAP) -> pd.Series:
    """Cycles from each row to its unit's last cycle, at most ``cap`` (None: uncapped).

    This is the training target of a run-to-failure history, where the last row of a unit is the
    failure. Aligned with ``frame``'s index, named ``rul``.
    """
    missing = [c for c in ("unit", "cycle") if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame has no column {', '.join(missing)}")
    last = frame.groupby("unit", sort=False)["cycle"].transform("max")
    rul = (last - frame["cycle"]).astype(np.float64)
    if cap is not None:
        rul = rul.clip(upper=float(cap))
    return rul.rename("rul")
