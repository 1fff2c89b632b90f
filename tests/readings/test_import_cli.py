"""``shopfloor import readings FILE``: same semantics as POST /readings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from shopfloor.cli import app as cli

runner = CliRunner()
SENSOR = "acme/press-line/press-1/oil-temp"


@pytest.fixture
def cli_env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("SHOPFLOOR_DATABASE_URL", database_url)
    monkeypatch.setenv("SHOPFLOOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOPFLOOR_AUTO_REGISTER", "false")


async def _invoke(*args):
    # The command runs its own event loop, so it cannot share the test's.
    return await asyncio.to_thread(runner.invoke, cli, ["import", "readings", *map(str, args)])


def _write_csv(path, rows):
    path.write_text("sensor,ts,value\n" + "".join(f"{s},{t},{v}\n" for s, t, v in rows))
    return path


async def _stored(client, sensor_id):
    return (await client.get(f"/sensors/{sensor_id}/readings", params={"limit": 10_000})).json()[
        "items"
    ]


async def test_csv_import_stores_rows_and_reimport_counts_duplicates(
    cli_env, client, plant, tmp_path
):
    rows = [(SENSOR, 1_700_000_000 + i, i * 0.5) for i in range(3000)]
    rows += [(SENSOR, "2024-01-01T00:00:00Z", 7.0)]
    csv = _write_csv(tmp_path / "readings.csv", rows)

    first = await _invoke(csv)
    assert first.exit_code == 0, first.output
    assert "imported 3001 readings (0 duplicates ignored)" in first.output
    again = await _invoke(csv)
    assert again.exit_code == 0, again.output
    assert "imported 0 readings (3001 duplicates ignored)" in again.output

    stored = await _stored(client, plant[SENSOR])
    assert len(stored) == 3001
    assert stored[0] == {"ts": "2023-11-14T22:13:20Z", "value": 0.0}
    assert stored[-1] == {"ts": "2024-01-01T00:00:00Z", "value": 7.0}


async def test_a_bad_row_anywhere_stores_nothing_and_names_its_line(
    cli_env, client, plant, tmp_path
):
    rows = [(SENSOR, 1_700_000_000 + i, float(i)) for i in range(100)]
    rows[40] = (SENSOR, "yesterday", 1.0)
    rows[70] = (SENSOR, 1_700_000_070, "n/a")
    rows[90] = ("acme/unknown", 1_700_000_090, 1.0)
    csv = _write_csv(tmp_path / "bad.csv", rows)

    result = await _invoke(csv, "--chunk-size", "30")

    assert result.exit_code == 1
    assert "3 of 100 rows are invalid; nothing was imported" in result.output
    # Line numbers count the header, as an editor shows them.
    assert "line 42, ts" in result.output
    assert "line 72, value" in result.output
    assert "line 92, sensor: unknown sensor 'acme/unknown'" in result.output
    assert await _stored(client, plant[SENSOR]) == []


async def test_parquet_with_a_timestamp_column(cli_env, client, plant, tmp_path):
    start = datetime(2024, 3, 1, tzinfo=UTC)
    table = pa.table(
        {
            "sensor": [SENSOR] * 500,
            "ts": pa.array(
                [start + timedelta(seconds=i) for i in range(500)], pa.timestamp("ms", tz="UTC")
            ),
            "value": [float(i) for i in range(500)],
        }
    )
    pq.write_table(table, tmp_path / "readings.parquet")

    result = await _invoke(tmp_path / "readings.parquet")

    assert result.exit_code == 0, result.output
    stored = await _stored(client, plant[SENSOR])
    assert len(stored) == 500
    assert stored[499] == {"ts": "2024-03-01T00:08:19Z", "value": 499.0}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_missing_file_and_unknown_format_exit_2(cli_env, tmp_path):
    missing = runner.invoke(cli, ["import", "readings", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    (tmp_path / "data.xlsx").write_bytes(b"x")
    unknown = runner.invoke(cli, ["import", "readings", str(tmp_path / "data.xlsx")])
    assert unknown.exit_code == 2
    assert "unknown format" in unknown.output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_missing_column_is_a_clear_error(cli_env, tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("sensor,time,value\na/b,1,2\n")
    result = runner.invoke(cli, ["import", "readings", str(path)])
    assert result.exit_code == 2
    assert "ts" in result.output
