"""``shopfloor connectors run|list|check``."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path

import structlog
import typer
from sqlalchemy import select

from shopfloor.cli.common import fail, print_table, when
from shopfloor.config import Settings
from shopfloor.connectors.config import InvalidConnectorFile, load_file
from shopfloor.connectors.models import ConnectorConfig, ConnectorStatusRow
from shopfloor.connectors.runner import LEASE_S
from shopfloor.connectors.wiring import build_runner, fixed_connectors
from shopfloor.observe.logging import configure_logging
from shopfloor.storage import Database
from shopfloor.storage.migrate import upgrade

app = typer.Typer(help="Connectors to machines: MQTT, Sparkplug B, OPC-UA.", no_args_is_help=True)
log = structlog.get_logger("shopfloor.connectors")
CONFIG = typer.Option(None, "--config", help="A TOML file of connectors ([[connectors]] …).")


@app.command("run")
def run(config: Path | None = CONFIG) -> None:
    """Run the connectors of the file, of SHOPFLOOR_MQTT_URL and of the API until stopped."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        fixed = fixed_connectors(settings, config)
    except InvalidConnectorFile as exc:
        fail(exc.detail)
    if settings.is_embedded_database:
        upgrade(settings.resolved_database_url)
    names = ", ".join(s.name for s, _ in fixed) or "none yet"
    typer.echo(f"connectors: {names} (and those defined through the API); Ctrl-C stops")
    asyncio.run(_run(settings, config))


async def _run(settings: Settings, config: Path | None) -> None:
    from shopfloor.pipeline.wiring import Pipeline
    from shopfloor.readings.events import offer_to
    from shopfloor.readings.service import build_ingestor

    db = Database(settings.resolved_database_url)
    await db.start()
    ingestor = build_ingestor(db, settings)
    await ingestor.store.start(db)
    # On a shared bus this process publishes what it stores. The in-process bus would keep
    # it here, where no stage runs: then the readings wait in the outbox for the relay of
    # `serve` to take them over (after SHOPFLOOR_OUTBOX_RECOVER_AFTER_S).
    pipeline = None
    if not settings.bus_url.startswith("memory:"):
        pipeline = Pipeline(settings, db, run_stages=False)
        ingestor.on_commit.append(offer_to(pipeline.relay))
        await pipeline.start()
    else:
        log.warning(
            "the bus is in-process: run connectors inside `shopfloor serve` for the pipeline "
            "to see readings at once; here they reach it through the outbox's recovery"
        )
    runner = build_runner(db, ingestor, settings, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.start()
        await stop.wait()
        log.info("stopping: storing what was received")
    finally:
        await runner.stop()
        if pipeline is not None:
            await pipeline.stop()
        await db.dispose()


@app.command("check")
def check(config: Path = typer.Argument(..., help="The TOML file to check.")) -> None:
    """Check a connectors file without connecting to anything."""
    try:
        connectors = load_file(config)
    except InvalidConnectorFile as exc:
        fail(exc.detail)
    rows = [
        [c.name, c.kind, c.url if c.kind == "mqtt" else c.endpoint]  # type: ignore[union-attr]
        for c in connectors
    ]
    print_table(["name", "kind", "where"], rows, "the file defines no connectors")
    typer.echo(f"{config}: {len(connectors)} connector(s), valid")


@app.command("list")
def list_connectors() -> None:
    """Connectors defined through the API and those running anywhere, with their state."""
    settings = Settings()

    async def read() -> tuple[list[ConnectorConfig], list[ConnectorStatusRow]]:
        db = Database(settings.resolved_database_url)
        try:
            async with db.read() as session:
                stored = list(await session.scalars(select(ConnectorConfig)))
                reported = list(await session.scalars(select(ConnectorStatusRow)))
            return stored, reported
        finally:
            await db.dispose()

    stored, reported = asyncio.run(read())
    fresh_after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=LEASE_S)
    status = {row.name: row for row in reported}
    names = sorted({row.name for row in stored} | set(status))
    kinds = {row.name: row.kind for row in [*stored, *reported]}
    enabled = {row.name: row.enabled for row in stored}
    rows = []
    for name in names:
        row = status.get(name)
        if row is None:
            running, connected, messages, last = "stopped", "-", "-", "-"
        else:
            state = row.state
            running = f"running in {row.process}" if row.reported_at >= fresh_after else "stale"
            connected = "yes" if state.get("connected") else "no"
            messages = str(state.get("messages", 0))
            at = state.get("last_message_at")
            last = when(dt.datetime.fromtimestamp(at, tz=dt.UTC) if at else None, "never")
        rows.append(
            [
                name,
                kinds[name],
                "yes" if enabled.get(name, True) else "no",
                running,
                connected,
                messages,
                last,
            ]
        )
    print_table(
        ["name", "kind", "enabled", "state", "connected", "messages", "last message"],
        rows,
        "no connectors",
    )
