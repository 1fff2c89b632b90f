"""Per-stage state in the database, and a checkpointer that saves it periodically and on stop.

A stage keeps its working state in memory (one JSON document per key, e.g. per sensor) and
checkpoints it here, so that a restarted stage resumes instead of relearning. States are
normalised through JSON when saved (numpy arrays and scalars become lists and numbers; NaN and
infinities, which JSON lacks, become null), so what ``load`` returns is exactly what a JSON
round trip gives.

Exactly-once *effects* remain the stage's job: a state saved apart from the acknowledgements of
the messages that produced it can be older or newer than them after a crash. A stage that must
not apply a message twice keeps a watermark in the state (the last timestamp or envelope id per
key) and skips what is not newer; ``save(..., session=...)`` commits the state in the same
transaction as the batch's own writes when the two must agree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from typing import Any

import orjson
import structlog
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import utcnow
from shopfloor.pipeline.models import StageStateRow
from shopfloor.storage.database import Database

log = structlog.get_logger("shopfloor.pipeline.state")

State = dict[str, Any]
INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# Bound parameters per statement stay under SQLite's and asyncpg's limits.
SAVE_CHUNK = 1_000


def as_json(states: Mapping[str, Any]) -> dict[str, State]:
    """A deep, JSON-only copy: later changes by the stage cannot leak into a save in flight.

    A state may also be an object with a ``document()`` method (a live detector, say): it is
    turned into its document here, at save time, so a stage can ``put`` it after every batch
    without paying for the serialisation each time.
    """
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATACLASS
    return orjson.loads(orjson.dumps(states, default=_document, option=options))


def _document(value: Any) -> Any:
    document = getattr(value, "document", None)
    if document is not None:
        return document()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class StateStore:
    """``stage_state`` rows: load a stage's states, upsert some of them in one transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def load(self, stage: str) -> dict[str, State]:
        async with self.database.read() as session:
            rows = await session.execute(
                select(StageStateRow.key, StageStateRow.state).where(StageStateRow.stage == stage)
            )
            return {key: state for key, state in rows}

    async def save(
        self,
        stage: str,
        states: Mapping[str, Any],
        *,
        session: AsyncSession | None = None,
    ) -> None:
        """Insert or replace ``states`` (key -> JSON document) of ``stage``, all or nothing.

        With ``session`` the rows join that transaction and its owner commits; otherwise the
        store opens and commits its own.
        """
        if not states:
            return
        documents = as_json(states)
        if session is not None:
            await self._upsert(session, stage, documents)
            return
        async with self.database.write() as own:
            await self._upsert(own, stage, documents)

    async def delete(self, stage: str, keys: Iterable[str] | None = None) -> None:
        """Forget some keys of a stage, or all of them (a stage that must relearn)."""
        statement = delete(StageStateRow).where(StageStateRow.stage == stage)
        if keys is not None:
            statement = statement.where(StageStateRow.key.in_(list(keys)))
        async with self.database.write() as session:
            await session.execute(statement)

    async def _upsert(self, session: AsyncSession, stage: str, documents: dict[str, State]) -> None:
        insert = INSERTS[session.get_bind().dialect.name]
        statement = insert(StageStateRow)
        statement = statement.on_conflict_do_update(
            index_elements=[StageStateRow.stage, StageStateRow.key],
            set_={
                "state": statement.excluded.state,
                "updated_at": statement.excluded.updated_at,
            },
        )
        now = utcnow()
        rows = [
            {"stage": stage, "key": key, "state": state, "updated_at": now}
            for key, state in sorted(documents.items())  # one lock order for concurrent savers
        ]
        for start in range(0, len(rows), SAVE_CHUNK):
            await session.execute(statement, rows[start : start + SAVE_CHUNK])


class Checkpointer:
    """Collects a stage's changed states and saves them every ``interval_s`` and on ``close``.

    The stage calls ``put`` as states change and ``maybe_save`` after a batch (or ``start`` for a
    background saver that also covers quiet periods); ``close`` in the stage's ``stop`` saves
    the rest, so a graceful shutdown loses nothing.
    """

    def __init__(
        self,
        store: StateStore,
        stage: str,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.stage = stage
        self.interval_s = interval_s
        self._clock = clock
        self._dirty: dict[str, Any] = {}
        self._last_save = clock()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> dict[str, State]:
        return await self.store.load(self.stage)

    def put(self, key: str, state: Any) -> None:
        """Mark ``key``'s state as changed; its value at the next save is what gets written."""
        self._dirty[key] = state

    def put_many(self, states: Mapping[str, Any]) -> None:
        self._dirty.update(states)

    @property
    def pending(self) -> int:
        """How many keys changed since the last save."""
        return len(self._dirty)

    async def save(self) -> int:
        """Save every changed state now; returns how many keys were written."""
        async with self._lock:
            # Snapshot before the first await: puts made while the save runs go to the next one.
            batch, self._dirty = self._dirty, {}
            try:
                await self.store.save(self.stage, batch)
            except BaseException:
                # Keep them for the next attempt, unless the stage has put newer states since.
                self._dirty = {**batch, **self._dirty}
                raise
            self._last_save = self._clock()
            return len(batch)

    async def maybe_save(self) -> bool:
        """Save when ``interval_s`` has passed since the last save; True when it saved."""
        if not self._dirty or self._clock() - self._last_save < self.interval_s:
            return False
        await self.save()
        return True

    def start(self) -> None:
        """Save in the background every ``interval_s``, also while no message arrives."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"checkpoint:{self.stage}")

    async def close(self) -> None:
        """Stop the background saver and save what is left."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.save()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.maybe_save()
            except Exception as exc:  # the next tick, or close, tries again
                log.warning("checkpoint failed", stage=self.stage, error=str(exc))
