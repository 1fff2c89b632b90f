"""The ``detect`` stage: scores every accepted reading and publishes ``scores``.

Until the streaming detectors land, a reading's score says whether it breaks its sensor's
limits (1.0) or not (0.0). Per sensor the stage remembers the newest timestamp it scored, so a
replayed or re-delivered message changes nothing, and checkpoints that watermark so that a
restarted worker resumes where it stopped.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sqlalchemy import select

from shopfloor.bus.message import Envelope
from shopfloor.pipeline.stage import BaseStage, StageContext
from shopfloor.pipeline.state import Checkpointer
from shopfloor.plant.models import Sensor
from shopfloor.readings.events import READINGS_ACCEPTED

SCORES = "scores"
LIMITS_TTL_S = 10.0


class LimitsDetectStage(BaseStage):
    name = "detect"
    topic = READINGS_ACCEPTED
    batch_size = 500
    batch_wait_s = 0.02

    def __init__(self, checkpoint_interval_s: float = 5.0) -> None:
        self.checkpoint_interval_s = checkpoint_interval_s
        self._watermarks: dict[int, int] = {}
        self._limits: dict[int, tuple[float, float, float]] = {}  # id → (low, high, read at)
        self._checkpoint: Checkpointer | None = None

    async def start(self, context: StageContext) -> None:
        await super().start(context)
        self._checkpoint = context.checkpointer(self.checkpoint_interval_s)
        saved = await self._checkpoint.load()
        self._watermarks = {int(key): int(state["last_ts"]) for key, state in saved.items()}
        self._checkpoint.start()

    async def stop(self) -> None:
        if self._checkpoint is not None:
            await self._checkpoint.close()

    async def handle(self, envelopes: list[Envelope]) -> None:
        outgoing: list[Envelope] = []
        advanced: dict[int, int] = {}
        await self._refresh_limits({int(e.payload["sensor_id"]) for e in envelopes})
        for envelope in envelopes:
            scored = self._score(envelope, advanced)
            if scored is not None:
                outgoing.append(scored)
        await self.context.publish(outgoing)
        # Only once the scores are on the bus: a failed publish is retried from the old marks.
        self._watermarks.update(advanced)
        assert self._checkpoint is not None
        self._checkpoint.put_many({str(k): {"last_ts": v} for k, v in advanced.items()})

    def _score(self, envelope: Envelope, advanced: dict[int, int]) -> Envelope | None:
        payload = envelope.payload
        sensor_id = int(payload["sensor_id"])
        ts = np.asarray(payload["ts"], dtype=np.int64)
        values = np.asarray(payload["values"], dtype=np.float64)
        mark = advanced.get(sensor_id, self._watermarks.get(sensor_id, -1))
        fresh = ts > mark
        if not fresh.any():
            return None
        ts, values = ts[fresh], values[fresh]
        low, high, _ = self._limits.get(sensor_id, (-np.inf, np.inf, 0.0))
        scores = ((values < low) | (values > high)).astype(np.float64)
        advanced[sensor_id] = int(ts.max())
        body: dict[str, Any] = {
            "sensor_id": sensor_id,
            "sensor": payload["sensor"],
            "detector": "limits",
            "ts": ts.tolist(),
            "values": values.tolist(),
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
