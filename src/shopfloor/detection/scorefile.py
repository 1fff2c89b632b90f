"""Offline scoring files: ``timestamp,value`` rows in, ``timestamp,value,anomaly_score`` out.

The input has the header ``timestamp,value`` and one reading per row, in time order. A time is
RFC 3339 (``2014-04-10T07:15:00Z``, ``…+02:00``), ISO 8601 without a zone (NAB's
``2014-04-10 07:15:00``, read as UTC) or epoch seconds. A value is a number; ``nan``, ``inf``
or an empty field is a missing reading. Blank lines are skipped. Columns are parsed whole with
numpy when they can be, row by row only when they must, so large files read fast.

The output repeats each row's timestamp and value as written and adds the score. It appears
whole or not at all (written to a temporary file beside it, then renamed).

Problems raise ``ScoreFileError`` with a one-line message naming the line, and whether it is
a usage problem (a path) or a content problem (the file's text).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HEADER = ["timestamp", "value"]
OUTPUT_HEADER = [*HEADER, "anomaly_score"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIME_FORMS = "RFC 3339, 'YYYY-MM-DD HH:MM:SS' or epoch seconds"
USAGE, CONTENT = 2, 1


class ScoreFileError(Exception):
    """A one-line message, and the exit code a command should end with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Rows:
    """The data rows of an input file, as written, with the line each starts on."""

    stamps: list[str]
    values: list[str]
    lines: list[int]


def check_paths(input_file: Path, output_file: Path) -> None:
    if not input_file.exists():
        raise ScoreFileError(f"input file {str(input_file)!r} does not exist", USAGE)
    if not input_file.is_file():
        raise ScoreFileError(f"input {str(input_file)!r} is not a file", USAGE)
    if output_file.is_dir():
        raise ScoreFileError(f"output {str(output_file)!r} is a directory", USAGE)
    if not output_file.absolute().parent.is_dir():
        raise ScoreFileError(f"output folder {str(output_file.parent)!r} does not exist", USAGE)


# -- reading -----------------------------------------------------------------------------------
def read_rows(path: Path) -> Rows:
    """The rows after the ``timestamp,value`` header; blank lines are skipped."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    rows = Rows([], [], [])
    header_seen = False
    try:
        for row in reader:
            if not any(field.strip() for field in row):
                continue
            if not header_seen:
                _check_header(path, reader.line_num, row)
                header_seen = True
                continue
            if len(row) != 2:
                raise _content(path, reader.line_num, f"expected 2 fields, found {len(row)}")
            rows.stamps.append(row[0])
            rows.values.append(row[1])
            rows.lines.append(reader.line_num)
    except csv.Error as exc:
        raise _content(path, reader.line_num, f"not CSV ({exc})") from None
    if not header_seen:
        raise ScoreFileError(
            f"{path}: the file is empty (expected the header timestamp,value)", CONTENT
        )
    return rows


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScoreFileError(f"{path}: not UTF-8 text", CONTENT) from None
    except OSError as exc:
        raise ScoreFileError(f"cannot read {str(path)!r}: {exc.strerror}", USAGE) from None


def _check_header(path: Path, line: int, row: list[str]) -> None:
    if [field.strip().lower() for field in row] != HEADER:
        found = _shown(",".join(row))
        raise _content(path, line, f"expected the header timestamp,value, found {found}")


def _content(path: Path, line: int, message: str) -> ScoreFileError:
    return ScoreFileError(f"{path} line {line}: {message}", CONTENT)


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


# -- values ------------------------------------------------------------------------------------
def parse_values(rows: Rows, path: Path) -> np.ndarray:
    """Values as float64; an empty field, ``nan`` or ``inf`` is a missing reading."""
    try:
        return np.array(rows.values, dtype=np.float64)
    except ValueError:
        pass
    values = np.empty(len(rows.values))
    for i, text in enumerate(rows.values):
        try:
            values[i] = float(text) if text.strip() else np.nan
        except ValueError:
            raise _content(path, rows.lines[i], f"value {_shown(text)} is not a number") from None
    return values


# -- times -------------------------------------------------------------------------------------
def parse_times(rows: Rows, path: Path) -> np.ndarray:
    """Times as float64 epoch seconds: whole columns at once when they can be, else per row."""
    stamps = rows.stamps
    for whole_column in (_epoch_column, _iso_column):
        seconds = whole_column(stamps)
        if seconds is not None:
            return seconds
    seconds = np.empty(len(stamps))
    for i, text in enumerate(stamps):
        value = _one_time(text)
        if value is None:
            message = f"cannot read the time {_shown(text)} (expected {TIME_FORMS})"
            raise _content(path, rows.lines[i], message)
        seconds[i] = value
    return seconds


def _epoch_column(stamps: list[str]) -> np.ndarray | None:
    try:
        seconds = np.array(stamps, dtype=np.float64)
    except ValueError:
        return None
    return seconds if np.isfinite(seconds).all() else None


def _iso_column(stamps: list[str]) -> np.ndarray | None:
    """A column of zone-less ISO times (or all ending in ``Z``), parsed by numpy in one go."""
    if not stamps:
        return None
    text = np.array(stamps)
    if text.dtype.itemsize < 5 * 4:
        return None
    if np.char.endswith(text, "Z").all():
        text = np.char.rstrip(text, "Z")
    codes = text.view(np.uint32).reshape(len(text), -1)
    digits = (codes[:, :4] >= ord("0")) & (codes[:, :4] <= ord("9"))
    if not (digits.all() and (codes[:, 4] == ord("-")).all()):
        return None  # numpy would also take "today", "NaT" or a bare year
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy only warns about a time zone
            moments = text.astype("datetime64[us]")
    except (ValueError, Warning):
        return None
    if np.isnat(moments).any():
        return None
    return moments.astype(np.int64) / 1e6


def _one_time(text: str) -> float | None:
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if np.isfinite(seconds) else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH).total_seconds()


# -- writing -----------------------------------------------------------------------------------
def write_scores(path: Path, rows: Rows, scores: np.ndarray) -> None:
    """Write the output whole: into a temporary file beside it, renamed when complete."""
    folder = path.absolute().parent
    try:
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ScoreFileError(f"cannot write into {str(folder)!r}: {exc.strerror}", USAGE) from None
    try:
        with open(descriptor, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(OUTPUT_HEADER)
            writer.writerows(zip(rows.stamps, rows.values, map(repr, scores.tolist()), strict=True))
        os.chmod(temporary, _file_mode(path))
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ScoreFileError(f"cannot write {str(path)!r}: {exc.strerror}", CONTENT) from None


def _file_mode(path: Path) -> int:
    """The mode of the file being replaced, else what a new file would get under the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
