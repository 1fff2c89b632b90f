"""Runs the configured connectors of a process: each with its batcher, restarted when its
configuration changes, reported to ``connector_status``.

Configurations come from the settings (``SHOPFLOOR_MQTT_URL``), a TOML file, and, when asked,
the ``connectors`` table that the API manages (re-read every few seconds, at once when this
process changed it). A connector runs in one process at a time: before starting one, the
runner looks for a fresh status row of another process and leaves the connector to it; when
that process stops reporting, the next reload takes the connector over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Protocol

import structlog
from sqlalchemy import delete, select

from shopfloor.connectors import status
from shopfloor.connectors.base import ConnectorState
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.config import MqttSettings, OpcUaSettings, parse_connector
from shopfloor.connectors.models import ConnectorConfig, ConnectorStatusRow
from shopfloor.readings.service import Ingestor
from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.connectors")

AnySettings = MqttSettings | OpcUaSettings
HEARTBEAT_S = 2.0
RELOAD_S = 5.0
# A status row older than this belongs to a process that stopped: its connectors are free.
LEASE_S = 15.0


class Connector(Protocol):
    state: ConnectorState

    async def run(self, batcher: Batcher) -> None: ...


def build_connector(settings: AnySettings) -> Connector:
    if isinstance(settings, MqttSettings):
        from shopfloor.connectors.mqtt.connector import MqttConnector

        return MqttConnector(settings)
    from shopfloor.connectors.opcua.client import OpcUaConnector

    return OpcUaConnector(settings)


def process_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class _Running:
    settings: AnySettings
    origin: str
    connector: Connector
    batcher: Batcher
    tasks: list[asyncio.Task[None]]


async def configured_in_database(db: Database) -> list[AnySettings]:
    async with db.read() as session:
        rows = await session.scalars(
            select(ConnectorConfig).where(ConnectorConfig.enabled).order_by(ConnectorConfig.name)
        )
        found: list[AnySettings] = []
        for row in rows:
            try:
                found.append(parse_connector({**row.settings, "kind": row.kind, "name": row.name}))
            except ValueError as exc:  # stored before a stricter version: say so, skip it
                log.error(
                    "stored connector configuration is invalid", name=row.name, error=str(exc)
                )
        return found


class ConnectorRunner:
    def __init__(
        self,
        db: Database,
        ingestor: Ingestor,
        fixed: Sequence[tuple[AnySettings, str]] = (),
        *,
        from_database: bool = True,
        build: Callable[[AnySettings], Connector] = build_connector,
        reload_s: float = RELOAD_S,
        heartbeat_s: float = HEARTBEAT_S,
        lease_s: float = LEASE_S,
    ) -> None:
        self.db = db
        self.ingestor = ingestor
        self.fixed = list(fixed)  # (settings, origin: "settings" | "file")
        self.from_database = from_database
        self.build = build
        self.reload_s = reload_s
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        self.process = process_name()
        self.running: dict[str, _Running] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def states(self) -> list[ConnectorState]:
        return [entry.connector.state for entry in self.running.values()]

    def reload_soon(self) -> None:
        """The API changed a configuration: apply it now rather than at the next poll."""
        self._changed.set()

    async def start(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # the database is down: serve anyway, the loop retries
            log.warning("cannot load connector configurations yet", error=str(exc)[:300])
        self._tasks = [
            asyncio.create_task(self._reload_loop(), name="connectors-reload"),
            asyncio.create_task(self._heartbeat_loop(), name="connectors-heartbeat"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        for name in list(self.running):
            await self._stop_one(name)
        with suppress(Exception):
            async with self.db.write() as session:
                await session.execute(
                    delete(ConnectorStatusRow).where(ConnectorStatusRow.process == self.process)
                )

    async def _reload_loop(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.reload_s)
            self._changed.clear()
            try:
                await self.reload()
            except Exception as exc:  # the database is down: keep what runs, try again
                log.warning("cannot reload connector configurations", error=str(exc)[:300])

    async def desired(self) -> dict[str, tuple[AnySettings, str]]:
        wanted = {settings.name: (settings, origin) for settings, origin in self.fixed}
        if self.from_database:
            for settings in await configured_in_database(self.db):
                # A name taken by the settings or the file keeps that definition.
                wanted.setdefault(settings.name, (settings, "api"))
        return wanted

    async def reload(self) -> None:
        wanted = await self.desired()
        for name, entry in list(self.running.items()):
            target = wanted.get(name)
            if target is None or target[0] != entry.settings:
                await self._stop_one(name)
        owners = await self._owners()
        for name, (settings, origin) in wanted.items():
            if name in self.running:
                continue
            owner = owners.get(name)
            if owner is not None and owner != self.process:
                continue
            self._start_one(settings, origin)

    async def _owners(self) -> dict[str, str]:
        fresh_after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.lease_s)
        async with self.db.read() as session:
            rows = await session.scalars(
                select(ConnectorStatusRow).where(ConnectorStatusRow.reported_at >= fresh_after)
            )
            return {row.name: row.process for row in rows}

    def _start_one(self, settings: AnySettings, origin: str) -> None:
        connector = self.build(settings)
        if isinstance(settings, MqttSettings):
            batcher = Batcher(
                self.ingestor,
                self.db,
                connector.state,
                max_readings=settings.batch_max_readings,
                max_wait_s=settings.batch_max_wait_ms / 1000,
            )
        else:
            batcher = Batcher(self.ingestor, self.db, connector.state)
        status.register(connector.state)
        tasks = [
            asyncio.create_task(batcher.run(), name=f"connector-{settings.name}-batcher"),
            asyncio.create_task(connector.run(batcher), name=f"connector-{settings.name}"),
        ]
        self.running[settings.name] = _Running(settings, origin, connector, batcher, tasks)
        log.info("connector started", connector=settings.name, kind=settings.kind, origin=origin)

    async def _stop_one(self, name: str) -> None:
        entry = self.running.pop(name)
        receiving, writer = entry.tasks[1], entry.tasks[0]
        receiving.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await receiving
        writer.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await writer
        # What was received is stored before letting go (its acknowledgements are moot: the
        # connection is closed, and the broker sends unacknowledged messages again).
        try:
            await asyncio.wait_for(entry.batcher.drain(), 30)
        except Exception as exc:
            log.warning(
                "connector stopped with readings not stored", connector=name, error=str(exc)
            )
        status.unregister(name)
        # Its last report would read as "running here" until the lease ran out.
        with suppress(Exception):
            async with self.db.write() as session:
                await session.execute(
                    delete(ConnectorStatusRow).where(
                        ConnectorStatusRow.name == name,
                        ConnectorStatusRow.process == self.process,
                    )
                )
        log.info("connector stopped", connector=name)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.report()
            except Exception as exc:
                log.warning("cannot record connector status", error=str(exc)[:300])

    async def report(self) -> None:
        """Record the state of what runs here; give up a connector another process runs too
        (both started it at once): the process whose name sorts first keeps it."""
        if not self.running:
            return
        for name, owner in (await self._owners()).items():
            if name in self.running and owner != self.process and owner < self.process:
                log.warning("connector runs in another process; leaving it", connector=name)
                await self._stop_one(name)
        now = dt.datetime.now(dt.UTC)
        async with self.db.write() as session:
            for entry in self.running.values():
                state = entry.connector.state
                await session.merge(
                    ConnectorStatusRow(
                        name=state.name,
                        kind=state.kind,
                        process=self.process,
                        state=state_document(state),
                        reported_at=now,
                    )
                )


def state_document(state: ConnectorState) -> dict[str, object]:
    document = asdict(state)
    document.pop("name")
    document.pop("kind")
    return document
