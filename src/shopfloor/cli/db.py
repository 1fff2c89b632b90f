"""``shopfloor db``: schema migrations."""

from __future__ import annotations

import typer

from shopfloor.config import Settings
from shopfloor.storage.migrate import upgrade as run_upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply every pending migration to the configured database."""
    settings = Settings()
    run_upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")
