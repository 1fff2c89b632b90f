"""The ``shopfloor`` command: one module per command group, no logic of its own.

Command modules are imported only when their command runs (``LazyGroup``): ``shopfloor detect
score`` does not pay for the web application, the database layer and the bus at start-up.
"""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup

# name → (module, attribute): a typer sub-app, or a function that is the command itself.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("shopfloor.cli.serve", "serve"),
    "demo": ("shopfloor.cli.serve", "demo"),
    "worker": ("shopfloor.cli.worker", "worker"),
    "db": ("shopfloor.cli.db", "app"),
    "import": ("shopfloor.cli.imports", "app"),
    "deadletters": ("shopfloor.cli.deadletters", "app"),
    "detect": ("shopfloor.cli.detect", "app"),
    "users": ("shopfloor.cli.users", "app"),
    "api-keys": ("shopfloor.cli.apikeys", "app"),
    "audit": ("shopfloor.cli.audit", "app"),
    "connectors": ("shopfloor.cli.connectors", "app"),
    "models": ("shopfloor.cli.models", "app"),
}


class LazyGroup(TyperGroup):
    """The root group: builds a command from its module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            command: click.Command = typer.main.get_group(target)
        else:
            single = typer.Typer()
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command


app = typer.Typer(
    name="shopfloor",
    cls=LazyGroup,
    help="Manufacturing quality and predictive-maintenance platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def shopfloor() -> None:
    """Manufacturing quality and predictive-maintenance platform."""


def main() -> None:
    try:
        app()
    except Exception as exc:
        message = _startup_error(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        raise SystemExit(2) from None


def _startup_error(exc: Exception) -> str | None:
    """A one-line message for a configuration error, or None for anything else (a bug)."""
    from pydantic import ValidationError

    from shopfloor.core.errors import ShopfloorError

    if isinstance(exc, ShopfloorError):
        return exc.detail
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"SHOPFLOOR_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        return f"invalid settings: {problems}"
    return None
