"""``shopfloor import readings FILE``: CSV or Parquet, with the API's semantics.

The whole file is checked before anything is stored, so a file with a bad row stores nothing
(like a bad HTTP batch); re-running an import is safe because re-sent readings are duplicates.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from shopfloor.cli.common import progress_bar
from shopfloor.config import Settings
from shopfloor.core.errors import ShopfloorError, ValidationFailed
from shopfloor.readings.importer import ImportFileError, count_rows, read_batches
from shopfloor.readings.service import Ingestor, build_ingestor
from shopfloor.storage import Database
from shopfloor.storage.migrate import upgrade

app = typer.Typer(help="Import data from files.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)
MAX_SHOWN_ERRORS = 20


@app.command("readings")
def import_readings(
    file: Path = typer.Argument(..., help="CSV or Parquet file with columns sensor,ts,value."),
    chunk_size: int = typer.Option(50_000, min=1, help="Readings per transaction."),
) -> None:
    """Import readings; every row is checked before any is stored."""
    settings = Settings()
    try:
        if settings.is_embedded_database:
            upgrade(settings.resolved_database_url)
        accepted, duplicates, elapsed = asyncio.run(_import(settings, file, chunk_size))
    except ImportFileError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except ValidationFailed as exc:
        _print_errors(exc)
        raise typer.Exit(1) from None
    except ShopfloorError as exc:
        err.print(f"[red]error:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from None
    rate = (accepted + duplicates) / elapsed if elapsed > 0 else 0.0
    typer.echo(
        f"imported {accepted} readings ({duplicates} duplicates ignored) "
        f"in {elapsed:.1f} s, {rate:,.0f} readings/s"
    )


async def _import(settings: Settings, file: Path, chunk_size: int) -> tuple[int, int, float]:
    db = Database(settings.resolved_database_url)
    await db.start()
    try:
        ingestor = build_ingestor(db, settings)
        ingestor.max_batch = max(ingestor.max_batch, chunk_size)
        started = time.perf_counter()
        total = await _check_file(ingestor, file, chunk_size)
        accepted = duplicates = 0
        with progress_bar(err) as progress:
            task = progress.add_task("importing", total=total)
            for columns in read_batches(file, chunk_size):
                result = await ingestor.ingest(columns)
                accepted += result.accepted
                duplicates += result.duplicates
                progress.advance(task, len(columns))
        return accepted, duplicates, time.perf_counter() - started
    finally:
        await db.dispose()


async def _check_file(ingestor: Ingestor, file: Path, chunk_size: int) -> int:
    """Validate every chunk; raise one error listing the bad lines of the whole file."""
    errors: list[dict[str, object]] = []
    rows = 0
    with progress_bar(err) as progress:
        task = progress.add_task("checking", total=count_rows(file))
        for columns in read_batches(file, chunk_size):
            try:
                await ingestor.prepare(columns)
            except ValidationFailed as exc:
                errors.extend(exc.errors or [])
            rows += len(columns)
            progress.advance(task, len(columns))
    if errors:
        bad_lines = len({tuple(e["loc"][:2]) for e in errors})  # type: ignore[index]
        raise ValidationFailed(
            f"{bad_lines} of {rows} rows are invalid; nothing was imported", errors=errors
        )
    return rows


def _print_errors(exc: ValidationFailed) -> None:
    err.print(f"[red]error:[/red] {escape(exc.detail)}")
    for error in (exc.errors or [])[:MAX_SHOWN_ERRORS]:
        _, line, field = error["loc"]
        err.print(f"  line {line}, {field}: {escape(str(error['msg']))}")
    hidden = len(exc.errors or []) - MAX_SHOWN_ERRORS
    if hidden > 0:
        err.print(f"  … and {hidden} more")
