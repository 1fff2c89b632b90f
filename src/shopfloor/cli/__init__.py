"""The ``shopfloor`` command: one module per command group, no logic of its own."""

from __future__ import annotations

import typer

from shopfloor.cli import db, deadletters, imports, serve, worker

app = typer.Typer(
    name="shopfloor",
    help="Manufacturing quality and predictive-maintenance platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("demo")(serve.demo)
app.command("worker")(worker.worker)
app.add_typer(db.app, name="db")
app.add_typer(imports.app, name="import")
app.add_typer(deadletters.app, name="deadletters")


def main() -> None:
    app()
