"""``shopfloor serve`` and ``shopfloor demo``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer
import uvicorn

from shopfloor.app import BackgroundTask, create_app
from shopfloor.config import Settings
from shopfloor.connectors.wiring import fixed_connectors
from shopfloor.observe.logging import configure_logging
from shopfloor.storage.migrate import upgrade


def _run(
    settings: Settings,
    host: str,
    port: int,
    background: list[BackgroundTask] | None = None,
    run_pipeline: bool = True,
    prepare: Callable[[Settings], None] | None = None,
) -> None:
    configure_logging(settings.log_level, settings.log_json)
    if settings.run_connectors:
        fixed_connectors(settings)  # a bad connectors file is refused before anything starts
    if settings.is_embedded_database:
        upgrade(settings.resolved_database_url)
    if prepare is not None:
        prepare(settings)
    app = create_app(settings, background=background, run_pipeline=run_pipeline)
    uvicorn.run(
        app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=10
    )


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    no_pipeline: bool = typer.Option(
        False, "--no-pipeline", help="Serve the API and dashboard only; workers run the stages."
    ),
) -> None:
    """Serve the API, the dashboard and (unless --no-pipeline) the pipeline stages."""
    _run(Settings(), host, port, run_pipeline=not no_pipeline)


def demo(
    port: int = typer.Option(8000, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """Run a demo plant with simulated machines, served live."""
    from shopfloor.demo.simulator import run_simulation

    settings = Settings(demo=True)
    if "auto_register" not in settings.model_fields_set:
        # Auto-registration defaults to on only in the demo; an explicit setting still wins.
        settings = settings.model_copy(update={"auto_register": True})

    def announce(settings: Settings) -> None:
        typer.echo(_demo_users(settings))
        typer.echo(f"shopfloor demo: http://{host}:{port}  (API docs at http://{host}:{port}/docs)")

    _run(settings, host, port, background=[run_simulation], prepare=announce)


def _demo_users(settings: Settings) -> str:
    """Creates the demo's users (one per role) and says how to sign in."""
    from shopfloor.demo.users import describe, ensure_demo_users
    from shopfloor.storage import Database

    async def ensure() -> str:
        db = Database(settings.resolved_database_url)
        try:
            return describe(await ensure_demo_users(db))
        finally:
            await db.dispose()

    return asyncio.run(ensure())
