"""The ``detect`` stage: scores every accepted reading and publishes ``scores``.

Until the streaming detectors land, a reading's score says whether it breaks its sensor's
limits (1.0) or not (0.0). Scoring a message is deterministic and its output's id derives from
the input's, so a replayed or re-delivered message publishes the very same ``scores`` message,
which the alarm stage recognises; messages of one sensor may arrive out of order (another
worker claims what a dead one held) and are all scored.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sqlalchemy import select

from shopfloor.bus.message import Envelope
from shopfloor.pipeline.stage import BaseStage
from shopfloor.plant.models import Sensor
from shopfloor.readings.events import READINGS_ACCEPTED

SCORES = "scores"
LIMITS_TTL_S = 10.0


class LimitsDetectStage(BaseStage):
    name = "detect"
    topic = READINGS_ACCEPTED
    batch_size = 500
    batch_wait_s = 0.02

    def __init__(self) -> None:
        self._limits: dict[int, tuple[float, float, float]] = {}  # id → (low, high, read at)

    async def handle(self, envelopes: list[Envelope]) -> None:
        await self._refresh_limits({int(e.payload["sensor_id"]) for e in envelopes})
        await self.context.publish([self._score(envelope) for envelope in envelopes])

    def _score(self, envelope: Envelope) -> Envelope:
        payload = envelope.payload
        sensor_id = int(payload["sensor_id"])
        values = np.asarray(payload["values"], dtype=np.float64)
        low, high, _ = self._limits.get(sensor_id, (-np.inf, np.inf, 0.0))
        scores = ((values < low) | (values > high)).astype(np.float64)
        body: dict[str, Any] = {
            "sensor_id": sensor_id,
            "sensor": payload["sensor"],
            "detector": "limits",
            "ts": payload["ts"],
            "values": payload["values"],
            "scores": scores.tolist(),
        }
        return Envelope(
            topic=SCORES,
            key=envelope.key,
            payload=body,
            # Derived from the input: a replay publishes the same id, which consumers know.
            id=f"{envelope.id}:detect",
            created_at=envelope.created_at,
        )

    async def _refresh_limits(self, sensor_ids: set[int]) -> None:
        now = time.monotonic()
        stale = [
            sid for sid in sensor_ids if now - self._limits.get(sid, (0, 0, -1e9))[2] > LIMITS_TTL_S
        ]
        if not stale:
            return
        async with self.context.database.read() as session:
            rows = await session.execute(
                select(Sensor.id, Sensor.low_limit, Sensor.high_limit).where(Sensor.id.in_(stale))
            )
            for sensor_id, low, high in rows.all():
                self._limits[sensor_id] = (
                    -np.inf if low is None else low,
                    np.inf if high is None else high,
                    now,
                )
