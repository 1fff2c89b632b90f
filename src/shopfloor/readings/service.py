"""Ingest: validate a batch as columns, resolve sensors, store it in one transaction."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.config import Settings
from shopfloor.core.errors import PayloadTooLarge, ValidationFailed
from shopfloor.observe.metrics import READINGS_DUPLICATE, READINGS_INGESTED, READINGS_REJECTED
from shopfloor.plant import repository
from shopfloor.plant import service as plant_service
from shopfloor.readings import events
from shopfloor.readings.columns import Columns, check_paths, parse_times, parse_values
from shopfloor.readings.directory import SensorDirectory
from shopfloor.readings.groupcommit import GroupCommitter
from shopfloor.readings.store import ReadingStore, store_for
from shopfloor.readings.store.base import Batch
from shopfloor.storage import Database
from shopfloor.storage.database import is_transient

TRANSIENT_RETRIES = 4
# Readings per shared transaction: big enough to amortise a commit, small enough to keep the
# wait of the last request in a group short.
GROUP_READINGS = 50_000


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


@dataclass(frozen=True)
class PreparedBatch:
    """A batch that passed validation: sensor codes into ``paths`` and typed columns."""

    codes: np.ndarray
    paths: list[str]
    known: dict[str, int]
    unknown: list[str]
    ts_us: np.ndarray
    values: np.ndarray


class Ingestor:
    """The one durable way in for readings: HTTP, MQTT, OPC-UA and file import all use it."""

    def __init__(
        self,
        db: Database,
        store: ReadingStore,
        directory: SensorDirectory,
        *,
        auto_register: bool,
        max_batch: int,
    ) -> None:
        self.db = db
        self.store = store
        self.directory = directory
        self.auto_register = auto_register
        self.max_batch = max_batch
        # Called after every commit with what it stored (the outbox relay takes it from here).
        self.on_commit: list[Callable[[list[events.Committed]], None]] = []
        # SQLite has a single writer: queue its writes into shared transactions. PostgreSQL
        # writes concurrently, each request in its own transaction.
        self._committer: GroupCommitter[PreparedBatch, IngestResult] | None = None
        if db.dialect == "sqlite":
            self._committer = GroupCommitter(
                self._store_group_retrying, self._store_one, max(max_batch, GROUP_READINGS)
            )

    async def ingest(self, columns: Columns) -> IngestResult:
        """Store every reading or none; returns only after the commit."""
        return await self.store_prepared(await self.prepare(columns))

    async def prepare(self, columns: Columns) -> PreparedBatch:
        """Validate a batch as columns and resolve its sensors; raise naming every bad item."""
        if len(columns) > self.max_batch:
            READINGS_REJECTED.labels("too_large").inc(len(columns))
            raise PayloadTooLarge(
                f"the batch holds {len(columns)} readings; at most {self.max_batch} are allowed "
                "per request: split it"
            )
        ts_us = parse_times(columns)
        values = parse_values(columns)
        codes, paths = check_paths(columns)
        known: dict[str, int] = {}
        if paths:
            async with self.db.read() as session:
                known = await self.directory.resolve(session, paths)
        unknown = [path for path in paths if path not in known]
        if unknown and not self.auto_register:
            unknown_codes = [code for code, path in enumerate(paths) if path not in known]
            for index in np.flatnonzero(np.isin(codes, unknown_codes)):
                path = paths[codes[index]]
                columns.add_error(
                    int(index), "sensor", f"unknown sensor {path!r}", "unknown_sensor"
                )
        if columns.errors:
            READINGS_REJECTED.labels("invalid").inc(len(columns))
            errors = sorted(columns.errors, key=lambda e: (e["index"], str(e["loc"])))
            raise ValidationFailed(
                f"{len({e['index'] for e in errors})} of {len(columns)} readings are invalid; "
                "nothing was stored",
                errors=errors,
            )
        return PreparedBatch(codes, paths, known, unknown, ts_us, values)

    async def store_prepared(self, batch: PreparedBatch) -> IngestResult:
        if not len(batch.codes):
            return IngestResult(0, 0)
        if self._committer is not None:
            return await self._committer.submit(batch, len(batch.codes))
        return await self._store_one(batch)

    async def _store_group_retrying(self, batches: list[PreparedBatch]) -> list[IngestResult]:
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                return await self._store_group(batches)
            except Exception as exc:
                if not is_transient(exc) or attempt == TRANSIENT_RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    async def _store_one(self, batch: PreparedBatch) -> IngestResult:
        return (await self._store_group_retrying([batch]))[0]

    async def _store_group(self, batches: list[PreparedBatch]) -> list[IngestResult]:
        """Write batches in one transaction; per batch, how many readings were new."""
        registered: dict[str, int] = {}
        counts: list[tuple[int, int]] = []
        committed: list[events.Committed] = []
        async with self.db.write() as session:
            for batch in batches:
                for path in batch.unknown:
                    if path not in registered:
                        registered[path] = await self._register(session, path)
                ids_by_path = {**batch.known, **registered}
                ids = np.asarray([ids_by_path[path] for path in batch.paths], dtype=np.int64)
                rows = Batch.build(ids[batch.codes], batch.ts_us, batch.values)
                stored = await self.store.write(session, rows)
                if len(stored):
                    outbox_id = await events.record_accepted(session, stored)
                    paths = {ids_by_path[path]: path for path in batch.paths}
                    committed.append(events.Committed(outbox_id, time.time(), stored, paths))
                counts.append((len(stored), len(batch.codes)))
        self.directory.remember(registered)
        for listener in self.on_commit:
            listener(committed)
        results = []
        for inserted, total in counts:
            READINGS_INGESTED.inc(inserted)
            READINGS_DUPLICATE.inc(total - inserted)
            results.append(IngestResult(accepted=inserted, duplicates=total - inserted))
        return results

    async def _register(self, session: AsyncSession, path: str) -> int:
        # Another writer may have registered it since the lookup above.
        existing = await repository.sensor_ids_by_path(session, [path])
        if path in existing:
            return existing[path]
        sensor = await plant_service.register_sensor(session, path)
        return sensor.id


def build_ingestor(db: Database, settings: Settings) -> Ingestor:
    return Ingestor(
        db,
        store_for(db.dialect),
        SensorDirectory(),
        auto_register=settings.auto_register,
        max_batch=settings.max_readings_per_request,
    )
