"""``readings.accepted``: what ingest tells the pipeline, through the outbox.

Ingest writes one small outbox row per stored batch: for each sensor, the first and last
timestamp of its readings (the readings themselves are in the readings table already). The
committing process publishes the batch from memory; only after a crash does the relay read
the readings of those spans back to publish them. A span read back may also hold readings that
another batch stored inside it; those are published a second time (under another message id),
which can count such a reading twice in an alarm's count. Spans of one sensor rarely interleave
(a sensor's batches follow each other in time), and this happens only on crash recovery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.bus import outbox
from shopfloor.bus.message import Envelope
from shopfloor.plant.models import Sensor
from shopfloor.readings.store import store_for
from shopfloor.readings.store.base import Batch

READINGS_ACCEPTED = "readings.accepted"
# A batch is at most a request or an import chunk: far fewer readings per sensor than this.
SPAN_READ_LIMIT = 1_000_000


def _runs(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Start and end index of each sensor's readings in a batch sorted by sensor."""
    starts = np.flatnonzero(np.concatenate(([True], batch.sensor_ids[1:] != batch.sensor_ids[:-1])))
    return starts, np.append(starts[1:], len(batch))


def pack_spans(batch: Batch) -> bytes:
    """Per sensor: id, first and last timestamp — 24 bytes a sensor, whatever the batch size."""
    starts, ends = _runs(batch)
    spans = np.stack((batch.sensor_ids[starts], batch.ts_us[starts], batch.ts_us[ends - 1]), axis=1)
    return spans.astype("<i8").tobytes()


def unpack_spans(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, "<i8").reshape(-1, 3).astype(np.int64)


@dataclass(frozen=True)
class Committed:
    """A stored batch and its outbox row, handed to the relay right after the commit."""

    outbox_id: int
    created_at: float
    batch: Batch
    paths: Mapping[int, str]  # sensor id → path, for the sensors of the batch


async def record_accepted(session: AsyncSession, batch: Batch) -> int:
    """Add the batch to the outbox, in the ingest transaction; returns the row id."""
    return await outbox.add(session, READINGS_ACCEPTED, key="", blob=pack_spans(batch))


def offer_to(relay: outbox.OutboxRelay) -> Callable[[list[Committed]], None]:
    """The ingest listener that hands committed batches to the relay, without a read-back."""

    def offer(committed: list[Committed]) -> None:
        for item in committed:
            relay.offer(
                item.outbox_id,
                partial(envelopes_for, item.outbox_id, item.created_at, item.batch, item.paths),
            )

    return offer


async def expand_accepted(session: AsyncSession, row: outbox.OutboxRow) -> list[Envelope]:
    """The envelopes of an outbox row found in the database (after a crash): the readings of
    its spans, read back from the store."""
    spans = unpack_spans(row.blob or b"")
    store = store_for(session.get_bind().dialect.name)
    ids, ts, values = [], [], []
    for sensor_id, first, last in spans.tolist():
        rows = await store.range(session, sensor_id, first, last + 1, SPAN_READ_LIMIT)
        ids.append(np.full(len(rows), sensor_id, dtype=np.int64))
        ts.append(np.fromiter((r[0] for r in rows), np.int64, len(rows)))
        values.append(np.fromiter((r[1] for r in rows), np.float64, len(rows)))
    if not ids:
        return []
    batch = Batch(np.concatenate(ids), np.concatenate(ts), np.concatenate(values))
    paths = dict(
        (
            await session.execute(
                select(Sensor.id, Sensor.path).where(Sensor.id.in_(spans[:, 0].tolist()))
            )
        ).all()
    )
    return envelopes_for(row.id, row.created_at, batch, paths)


def envelopes_for(
    outbox_id: int, created_at: float, batch: Batch, paths: Mapping[int, str]
) -> list[Envelope]:
    """One envelope per sensor of a stored batch (the batch is sorted by sensor)."""
    if not len(batch):
        return []
    starts, ends = _runs(batch)
    envelopes = []
    for sensor_id, start, end in zip(
        batch.sensor_ids[starts].tolist(), starts.tolist(), ends.tolist(), strict=True
    ):
        path = paths.get(sensor_id)
        if path is None:  # deleted since: nothing left to watch
            continue
        envelopes.append(
            Envelope(
                topic=READINGS_ACCEPTED,
                key=path,
                payload={
                    "sensor_id": sensor_id,
                    "sensor": path,
                    "ts": batch.ts_us[start:end].tolist(),
                    "values": batch.values[start:end].tolist(),
                },
                id=f"outbox-{outbox_id}-{sensor_id}",
                created_at=created_at,
            )
        )
    return envelopes
