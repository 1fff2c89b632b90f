"""``shopfloor audit verify|list``: check the audit log's chain, and read it from a shell."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shopfloor.auth import audit
from shopfloor.auth.models import AuditEntry
from shopfloor.cli.common import progress_bar
from shopfloor.config import Settings
from shopfloor.storage import Database

app = typer.Typer(help="The audit log: who changed what, when, from where.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True)
WIDE = 240


async def _verify(url: str, batch_size: int) -> audit.VerifyResult:
    db = Database(url)
    try:
        async with db.read() as session:
            total = await audit.head_seq(session)
        with progress_bar(err) as progress:
            task = progress.add_task("verifying", total=total)
            async with db.read() as session:
                return await audit.verify(
                    session,
                    batch_size=batch_size,
                    progress=lambda count: progress.advance(task, count),
                )
    finally:
        await db.dispose()


@app.command()
def verify(
    batch_size: int = typer.Option(audit.BATCH, min=1, max=100_000, help="Entries per read."),
) -> None:
    """Check every entry's hash and link, and the head: exit 1 naming the first bad entry."""
    settings = Settings()
    result = asyncio.run(_verify(settings.resolved_database_url, batch_size))
    if result.ok:
        console.print(f"audit log intact: {result.checked:,} entries")
        return
    console.print(f"audit log broken: {escape(result.problem or 'unknown problem')}")
    raise typer.Exit(1)


async def _list(url: str, actor: str | None, action: str | None, limit: int) -> list[AuditEntry]:
    db = Database(url)
    try:
        async with db.read() as session:
            return await audit.list_entries(session, actor=actor, action=action, limit=limit)
    finally:
        await db.dispose()


def _change(entry: AuditEntry) -> str:
    """The changed fields in short: ``name: 'a' → 'b'``, or the fields set or removed."""
    before, after = entry.before or {}, entry.after or {}
    if before and after:
        parts = [f"{k}: {before.get(k)!r} → {after.get(k)!r}" for k in after]
    else:
        parts = [f"{k}={v!r}" for k, v in (after or before).items()]
    text = ", ".join(parts)
    return text if len(text) <= 120 else text[:119] + "…"


@app.command("list")
def list_entries(
    actor: str | None = typer.Option(None, help="Only this actor (a user, key:NAME, cli:NAME)."),
    action: str | None = typer.Option(None, help='Only this action; "alarm.*" for a prefix.'),
    limit: int = typer.Option(50, min=1, max=10_000),
) -> None:
    """Show the newest entries: when, who, from where, what, and what changed."""
    settings = Settings()
    entries = asyncio.run(_list(settings.resolved_database_url, actor, action, limit))
    if not entries:
        console.print("no audit entries")
        return
    table = Table()
    for column in ("seq", "at (UTC)", "actor", "source", "action", "target"):
        table.add_column(column, no_wrap=True)
    table.add_column("change", overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.seq),
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(entry.actor),
            escape(entry.source or ""),
            escape(entry.action),
            escape(entry.target),
            escape(_change(entry)),
        )
    # Piped into a file or grep, a row stays whole rather than cut to a terminal's width.
    out = console if console.is_terminal else Console(soft_wrap=True, width=WIDE)
    out.print(table)
