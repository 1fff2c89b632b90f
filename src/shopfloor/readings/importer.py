"""Read CSV and Parquet files of ``sensor,ts,value`` rows as batches of readings columns.

Arrow does the parsing in C and in blocks, so a file of any size streams through in constant
memory; whatever Arrow could not type (odd timestamps, stray text in the value column) falls
back to the same per-item checks as the HTTP API, so a bad row is reported by its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shopfloor.readings.columns import Columns

REQUIRED = ("sensor", "ts", "value")
CHUNK_ROWS = 50_000


class ImportFileError(ValueError):
    """The file cannot be read as readings at all (format, missing columns)."""


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    raise ImportFileError(f"{path.name}: unknown format; use a .csv or .parquet file")


def count_rows(path: Path) -> int | None:
    """Rows in a Parquet file (from its footer); None for CSV, which must be read to know."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    if file_format(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    return None


def read_batches(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Columns]:
    """Columns of at most about ``chunk_rows`` readings each, in file order."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    line = 2 if file_format(path) == "csv" else 1  # the first data line, after the header
    for record_batch in _record_batches(path, chunk_rows):
        for start in range(0, record_batch.num_rows, chunk_rows):
            part = record_batch.slice(start, chunk_rows)
            yield _columns(part, line)
            line += part.num_rows


def _record_batches(path: Path, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    try:
        if file_format(path) == "parquet":
            parquet = pq.ParquetFile(path)
            _check_columns(parquet.schema_arrow.names, path)
            yield from parquet.iter_batches(batch_size=chunk_rows, columns=list(REQUIRED))
            return
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={"sensor": pa.string(), "ts": pa.string(), "value": pa.string()},
                include_columns=list(REQUIRED),
                include_missing_columns=False,
                strings_can_be_null=True,
            ),
        )
        yield from reader
    except pa.ArrowInvalid as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    except KeyError as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None


def _check_columns(names: list[str], path: Path) -> None:
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ImportFileError(f"{path.name}: missing column(s) {', '.join(missing)}")


def _columns(batch: pa.RecordBatch, first_line: int) -> Columns:
    sensors = batch.column("sensor")
    ts = batch.column("ts")
    values = batch.column("value")
    columns = Columns(
        paths=sensors.to_pylist(),
        ts_raw=[],
        values_raw=[],
        form="file",
        first_line=first_line,
    )
    _set_times(columns, ts)
    _set_values(columns, values)
    return columns


def _set_times(columns: Columns, ts: pa.Array) -> None:
    if pa.types.is_timestamp(ts.type) and ts.null_count == 0:
        utc = ts.cast(pa.timestamp("us", tz="UTC"))
        columns.ts_us = utc.cast(pa.int64()).to_numpy(zero_copy_only=False)
        return
    if pa.types.is_string(ts.type):
        numeric = _try_float(ts)
        if numeric is not None:
            columns.ts_raw = numeric.tolist()
            return
    # Mixed text: epoch seconds where a cell is a number, RFC 3339 otherwise.
    columns.ts_raw = [_number_or_text(t) for t in ts.to_pylist()]


def _set_values(columns: Columns, values: pa.Array) -> None:
    if values.null_count == 0 and (
        pa.types.is_floating(values.type) or pa.types.is_integer(values.type)
    ):
        columns.values = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return
    if pa.types.is_string(values.type):
        numeric = _try_float(values)
        if numeric is not None:
            columns.values = numeric
            return
    columns.values_raw = [_number_or_text(v) for v in values.to_pylist()]


def _try_float(column: pa.Array) -> np.ndarray | None:
    if column.null_count:
        return None
    try:
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _number_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
