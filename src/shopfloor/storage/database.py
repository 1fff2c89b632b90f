"""Engine and sessions, chosen by URL scheme.

The boundary that owns a unit of work (a request, a stage batch, a CLI command) opens it with
``write()`` or ``read()``; services only receive the session and never commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shopfloor.core.errors import ShopfloorError

log = structlog.get_logger("shopfloor.storage")


class UnsupportedDatabase(ShopfloorError):
    slug, title = "unsupported-database", "Unsupported database URL"


WAL_AUTOCHECKPOINT_PAGES = 16_000  # 64 MiB with 4 KiB pages
CHECKPOINT_INTERVAL_S = 1.0


class WalCheckpointer:
    """Copies committed WAL frames back into the SQLite file, off the writers' path.

    A PASSIVE checkpoint never blocks a writer; SQLite runs it without holding the GIL, so it
    uses the second core while the event loop serves requests. The connection lives on one
    thread of its own, which also closes it once no checkpoint runs.
    """

    def __init__(self, path: str, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._connection: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    # Shielded: a cancelled wait must not leave the thread mid-checkpoint
                    # while the connection is closed under it.
                    await asyncio.shield(loop.run_in_executor(self._thread, self.checkpoint))
                except sqlite3.Error as exc:
                    log.warning("wal checkpoint failed", error=str(exc))
        finally:
            self._thread.submit(self._close)
            self._thread.shutdown(wait=True)

    def checkpoint(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, timeout=1)
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _sqlite_engine(url: str) -> AsyncEngine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling would BEGIN lazily and DEFERRED; take it over so
        # writers can ask for BEGIN IMMEDIATE and never fail on a lock upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer; synchronous=FULL makes every commit durable
        # before the client hears about it.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoints run in the background (WalCheckpointer); this only caps the WAL should
        # that fall behind, instead of every writer copying pages back on its own commit.
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: str) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "shopfloor"}},
    )


ENGINE_FACTORIES: dict[str, Callable[[str], AsyncEngine]] = {
    "sqlite": _sqlite_engine,
    "postgresql": _postgres_engine,
}


def create_engine_for(url: str) -> AsyncEngine:
    backend = make_url(url).get_backend_name()
    try:
        factory = ENGINE_FACTORIES[backend]
    except KeyError:
        raise UnsupportedDatabase(
            f"database URL scheme {backend!r} is not supported; use sqlite+aiosqlite:// or "
            "postgresql+asyncpg://"
        ) from None
    return factory(url)


# Deadlock and serialization failure: the transaction did nothing and may simply run again.
TRANSIENT_SQLSTATES = {"40P01", "40001"}


def is_transient(exc: BaseException) -> bool:
    """True for errors after which the same transaction may succeed when retried."""
    for candidate in (exc, getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        if getattr(candidate, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
    return False


class Database:
    """Owns the engine; hands out sessions for writing and for reading."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine_for(url)
        self.dialect = self.engine.dialect.name
        writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._upkeep: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start background upkeep (SQLite's WAL checkpoints); ``dispose`` stops it."""
        path = make_url(self.url).database
        if self.dialect == "sqlite" and path and path != ":memory:" and self._upkeep is None:
            self._upkeep = asyncio.create_task(WalCheckpointer(path).run())

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block ends without an error."""
        async with self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._upkeep is not None:
            self._upkeep.cancel()
            with suppress(asyncio.CancelledError):
                await self._upkeep
            self._upkeep = None
        await self.engine.dispose()
