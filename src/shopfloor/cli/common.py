"""What the account and key commands share: one unit of work per command, errors, tables."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth.context import Acting, acting_as
from shopfloor.config import Settings
from shopfloor.core.errors import ShopfloorError
from shopfloor.observe.logging import configure_logging
from shopfloor.storage import Database
from shopfloor.storage.migrate import upgrade

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


def cli_actor() -> str:
    """How a command's changes are attributed: ``cli:<login name>``."""
    return f"cli:{getpass.getuser()}"


def run_unit_of_work(operation: str, work: Work[T], *, write: bool = True) -> T:
    """``work`` in one transaction of the configured database, audited as the login user;
    a ShopfloorError ends the command with its message and exit code 2."""
    try:
        settings = Settings()
        if settings.is_embedded_database:
            upgrade(settings.resolved_database_url)
        if not structlog.is_configured():  # structlog's default would log to stdout
            configure_logging(settings.log_level, settings.log_json)
        with acting_as(Acting(actor=cli_actor(), source="cli", operation=operation)):
            # asyncio.run's task copies this context, so the audit hook sees the actor.
            return asyncio.run(_in_transaction(settings.resolved_database_url, work, write))
    except ShopfloorError as exc:
        fail(exc.detail, exc.errors)


async def _in_transaction(url: str, work: Work[T], write: bool) -> T:
    db = Database(url)
    try:
        async with db.write() if write else db.read() as session:
            return await work(session)
    finally:
        await db.dispose()


async def every_row(fetch: Callable[[int | None, int], Awaitable[Sequence[Any]]]) -> list[Any]:
    """All rows of an id-ordered list, page by page: ``fetch(after_id, limit)``."""
    rows: list[Any] = []
    while batch := await fetch(rows[-1].id if rows else None, 1000):
        rows.extend(batch)
    return rows


def fail(message: str, errors: list[dict[str, Any]] | None = None) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    for error in errors or []:
        where = ".".join(map(str, error.get("loc", []))) or "-"
        typer.echo(f"  {where}: {error.get('msg', '')}", err=True)
    raise typer.Exit(2)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
    # Piped output is not cut to 80 columns: a script reading it wants whole rows.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    if not rows:
        console.print(empty)
        return
    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def when(moment: datetime | None, otherwise: str) -> str:
    return moment.strftime("%Y-%m-%d %H:%MZ") if moment is not None else otherwise


def progress_bar(console: Console) -> Progress:
    """A progress bar on ``console``, shown only on a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
