"""``shopfloor detect score INPUT.csv OUTPUT.csv [--detector NAME]``, run as a user runs it."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shopfloor.cli import app
from shopfloor.detection.registry import DEFAULT_DETECTOR, DETECTORS, make_detector

runner = CliRunner()
NAB_TAXI = (
    Path(__file__).resolve().parents[2].parent / "shared/data/nab/data/realKnownCause/nyc_taxi.csv"
)
START = np.datetime64("2014-04-07T00:00:00", "s")  # a Monday
STEP = np.timedelta64(300, "s")
SPIKE = 2500


def invoke(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["detect", "score", *map(str, args)])


def series(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Five-minute readings with a daily cycle and one spike."""
    moments = START + np.arange(n) * STEP
    hours = np.arange(n) / 12.0
    rng = np.random.default_rng(seed)
    values = np.round(50.0 + 10.0 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 1, n), 3)
    if n > SPIKE:
        values[SPIKE] += 40.0
    return moments, values


def nab_times(moments: np.ndarray) -> list[str]:
    return [str(m).replace("T", " ") for m in moments]


def write_input(path: Path, stamps: list[str], values: list[str]) -> Path:
    lines = ["timestamp,value", *(f"{t},{v}" for t, v in zip(stamps, values, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_output(path: Path) -> tuple[list[str], list[list[str]], np.ndarray]:
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows, np.array([float(row[2]) for row in rows])


@pytest.fixture
def taxi_like(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    moments, values = series()
    stamps, texts = nab_times(moments), [repr(float(v)) for v in values]
    return write_input(tmp_path / "in.csv", stamps, texts), stamps, texts


# -- what it writes ----------------------------------------------------------------------------
def test_one_output_row_per_input_row_with_the_original_text(taxi_like, tmp_path):
    source, stamps, texts = taxi_like
    out = tmp_path / "out.csv"
    result = invoke(source, out)
    assert result.exit_code == 0, result.output
    assert "scored 3000 rows" in result.stdout

    header, rows, scores = read_output(out)
    assert header == ["timestamp", "value", "anomaly_score"]
    assert [row[0] for row in rows] == stamps
    assert [row[1] for row in rows] == texts
    assert ((scores >= 0.0) & (scores <= 1.0)).all()
    assert scores[SPIKE] >= 0.5
    assert np.percentile(np.delete(scores, SPIKE), 99) < 0.5


def test_scores_are_the_default_detector_s_and_another_detector_differs(taxi_like, tmp_path):
    source, _, _ = taxi_like
    moments, values = series()
    epoch = moments.astype(np.int64).astype(float)
    assert invoke(source, tmp_path / "default.csv").exit_code == 0
    _, _, default = read_output(tmp_path / "default.csv")
    assert np.array_equal(default, make_detector(DEFAULT_DETECTOR).update(epoch, values))

    for name in sorted(set(DETECTORS) - {DEFAULT_DETECTOR}):
        out = tmp_path / f"{name}.csv"
        assert invoke(source, out, "--detector", name).exit_code == 0
        _, _, scores = read_output(out)
        assert np.array_equal(scores, make_detector(name).update(epoch, values))
        assert not np.array_equal(scores, default)
    assert "ewma" in DETECTORS


def test_every_time_form_reads_as_the_same_instants(tmp_path):
    moments, values = series(n=2000)
    texts = [repr(float(v)) for v in values]
    seconds = moments.astype(np.int64)
    forms = {
        "nab": nab_times(moments),
        "rfc3339_z": [f"{m}Z" for m in moments],
        "offset": [f"{m + np.timedelta64(2, 'h')}+02:00" for m in moments],
        "fraction": [f"{m}.000Z" for m in moments],
        "epoch": [str(s) for s in seconds],
        "epoch_float": [f"{s}.0" for s in seconds],
        "mixed": [
            [f"{m}Z", str(s), str(m).replace("T", " ")][i % 3]
            for i, (m, s) in enumerate(zip(moments, seconds, strict=True))
        ],
    }
    outputs = {}
    for form, stamps in forms.items():
        out = tmp_path / f"{form}.out.csv"
        result = invoke(write_input(tmp_path / f"{form}.csv", stamps, texts), out)
        assert result.exit_code == 0, (form, result.output)
        _, rows, outputs[form] = read_output(out)
        assert [row[0] for row in rows] == stamps
    for form, scores in outputs.items():
        assert np.array_equal(scores, outputs["nab"]), form


def test_output_for_a_prefix_is_the_prefix_of_the_output(tmp_path):
    moments, values = series(n=3000)
    stamps, texts = nab_times(moments), [repr(float(v)) for v in values]
    assert (
        invoke(write_input(tmp_path / "all.csv", stamps, texts), tmp_path / "all.out").exit_code
        == 0
    )
    _, whole_rows, _ = read_output(tmp_path / "all.out")
    for cut in (1, 700, SPIKE, SPIKE + 1):
        source = write_input(tmp_path / f"head{cut}.csv", stamps[:cut], texts[:cut])
        assert invoke(source, tmp_path / f"head{cut}.out").exit_code == 0
        _, rows, _ = read_output(tmp_path / f"head{cut}.out")
        assert rows == whole_rows[:cut]


def test_values_that_are_not_numbers_score_zero(tmp_path):
    moments, values = series(n=400)
    texts = [repr(float(v)) for v in values]
    missing = {10: "nan", 11: "NaN", 12: "inf", 13: "-inf", 14: "", 399: "nan"}
    for i, text in missing.items():
        texts[i] = text
    out = tmp_path / "out.csv"
    result = invoke(write_input(tmp_path / "in.csv", nab_times(moments), texts), out)
    assert result.exit_code == 0, result.output
    _, rows, scores = read_output(out)
    assert [row[1] for row in rows] == texts
    assert (scores[list(missing)] == 0.0).all()


def test_blank_lines_crlf_and_a_byte_order_mark_are_read(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(
        b"\xef\xbb\xbftimestamp,value\r\n1400000000,1\r\n\r\n1400000300,2\r\n1400000600,3\r\n"
    )
    out = tmp_path / "out.csv"
    assert invoke(source, out).exit_code == 0
    _, rows, _ = read_output(out)
    assert [row[:2] for row in rows] == [
        ["1400000000", "1"],
        ["1400000300", "2"],
        ["1400000600", "3"],
    ]


def test_a_header_alone_gives_a_header_alone(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("timestamp,value\n")
    result = invoke(source, tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_text() == "timestamp,value,anomaly_score\n"


# -- bad input ---------------------------------------------------------------------------------
GOOD_ROWS = "timestamp,value\n2014-04-10 07:15:00,1.5\n2014-04-10 07:20:00,2.5\n"
BAD_INPUTS = {
    # case: (file content or None for no file, extra arguments, exit code, message parts)
    "missing file": (None, [], 2, ["does not exist"]),
    "empty file": ("", [], 1, ["empty"]),
    "blank file": ("\n\n", [], 1, ["empty"]),
    "wrong header": ("ts,value\n1,2\n", [], 1, ["line 1", "header timestamp,value"]),
    "missing header": ("1400000000,2\n", [], 1, ["line 1", "header timestamp,value"]),
    "not a number": (GOOD_ROWS + "2014-04-10 07:25:00,12x\n", [], 1, ["line 4", "'12x'"]),
    "bad time": (GOOD_ROWS + "2014-04-10 25:00:00,1\n", [], 1, ["line 4", "time"]),
    "empty time": (GOOD_ROWS + ",1\n", [], 1, ["line 4", "time"]),
    "nan time": (GOOD_ROWS + "nan,1\n", [], 1, ["line 4", "time"]),
    "time word": (GOOD_ROWS + "today,1\n", [], 1, ["line 4", "'today'"]),
    "bad time amid epochs": ("timestamp,value\n1400000000,1\n1400000300x,1\n", [], 1, ["line 3"]),
    "too many fields": (GOOD_ROWS + "2014-04-10 07:25:00,1,2\n", [], 1, ["line 4", "2 fields"]),
    "too few fields": (GOOD_ROWS + "2014-04-10 07:25:00\n", [], 1, ["line 4", "2 fields"]),
    "not utf-8": (b"timestamp,value\n2014-04-10 07:15:00,\xff\n", [], 1, ["UTF-8"]),
    "unknown detector": (GOOD_ROWS, ["--detector", "nope"], 2, ["'nope'", *sorted(DETECTORS)]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, case):
    content, extra, code, parts = BAD_INPUTS[case]
    source = tmp_path / "in.csv"
    if isinstance(content, bytes):
        source.write_bytes(content)
    elif content is not None:
        source.write_text(content)
    out = tmp_path / "out" / "scores.csv"
    out.parent.mkdir()

    result = invoke(source, out, *extra)
    assert result.exit_code == code, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ")
    assert "\n" not in message
    for part in parts:
        assert part in message
    assert "Traceback" not in result.output
    assert list(out.parent.iterdir()) == []


def test_bad_input_leaves_an_existing_output_as_it_was(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(GOOD_ROWS + "2014-04-10 07:25:00,oops\n")
    out = tmp_path / "scores.csv"
    out.write_text("earlier results\n")
    assert invoke(source, out).exit_code == 1
    assert out.read_text() == "earlier results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "scores.csv"]


def test_output_in_a_missing_folder_is_a_usage_error(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(GOOD_ROWS)
    result = invoke(source, tmp_path / "nowhere" / "out.csv")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_missing_arguments_are_a_usage_error():
    assert invoke().exit_code == 2


# -- the installed command, on a real file -----------------------------------------------------
def shopfloor_command() -> list[str]:
    script = Path(sys.executable).with_name("shopfloor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "shopfloor"]


@pytest.mark.skipif(not NAB_TAXI.exists(), reason=f"NAB data not found at {NAB_TAXI}")
def test_console_script_scores_nab_nyc_taxi(tmp_path):
    out = tmp_path / "nyc_taxi.scores.csv"
    done = subprocess.run(
        [*shopfloor_command(), "detect", "score", str(NAB_TAXI), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with NAB_TAXI.open(newline="") as handle:
        source_header, *source_rows = list(csv.reader(handle))
    header, rows, scores = read_output(out)
    assert header == [*source_header, "anomaly_score"]
    assert len(rows) == len(source_rows) == 10320
    assert [row[:2] for row in rows] == source_rows
    assert ((scores >= 0.0) & (scores <= 1.0)).all()

    moments = np.array([row[0].replace(" ", "T") for row in source_rows], dtype="datetime64[s]")
    values = np.array([float(row[1]) for row in source_rows])
    expected = make_detector().update(moments.astype(np.int64).astype(float), values)
    assert np.array_equal(scores, expected)


def test_python_dash_m_reports_a_bad_file_without_a_traceback(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(GOOD_ROWS + "2014-04-10 07:25:00,twelve\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopfloor",
            "detect",
            "score",
            str(source),
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {source} line 4: value 'twelve' is not a number"
    ]
    assert not (tmp_path / "o.csv").exists()
