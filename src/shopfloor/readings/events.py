"""``readings.accepted``: what ingest tells the pipeline, through the outbox.

Ingest writes one outbox row per stored batch, its readings packed as arrays (a few
microseconds to build); the relay expands it into one envelope per sensor, keyed by the
sensor's path, off the ingest path.
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
from shopfloor.readings.store.base import Batch

READINGS_ACCEPTED = "readings.accepted"


def pack(batch: Batch) -> bytes:
    return b"".join(
        (
            np.int64(len(batch)).tobytes(),
            batch.sensor_ids.astype("<i8").tobytes(),
            batch.ts_us.astype("<i8").tobytes(),
            batch.values.astype("<f8").tobytes(),
        )
    )


def unpack(blob: bytes) -> Batch:
    n = int(np.frombuffer(blob, "<i8", 1)[0])
    arrays = np.frombuffer(blob, "<i8", 2 * n, offset=8)
    values = np.frombuffer(blob, "<f8", n, offset=8 + 16 * n)
    return Batch(
        arrays[:n].astype(np.int64), arrays[n:].astype(np.int64), values.astype(np.float64)
    )


@dataclass(frozen=True)
class Committed:
    """A stored batch and its outbox row, handed to the relay right after the commit."""

    outbox_id: int
    created_at: float
    batch: Batch
    paths: Mapping[int, str]  # sensor id → path, for the sensors of the batch


async def record_accepted(session: AsyncSession, batch: Batch) -> int:
    """Add the batch's readings to the outbox, in the ingest transaction; returns the row id."""
    return await outbox.add(session, READINGS_ACCEPTED, key="", blob=pack(batch))


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
    """The envelopes of an outbox row found in the database (after a crash)."""
    batch = unpack(row.blob or b"")
    ids = np.unique(batch.sensor_ids).tolist()
    paths = dict(
        (await session.execute(select(Sensor.id, Sensor.path).where(Sensor.id.in_(ids)))).all()
    )
    return envelopes_for(row.id, row.created_at, batch, paths)


def envelopes_for(
    outbox_id: int, created_at: float, batch: Batch, paths: Mapping[int, str]
) -> list[Envelope]:
    """One envelope per sensor of a stored batch (the batch is sorted by sensor)."""
    if not len(batch):
        return []
    starts = np.flatnonzero(np.concatenate(([True], batch.sensor_ids[1:] != batch.sensor_ids[:-1])))
    ends = np.append(starts[1:], len(batch))
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
