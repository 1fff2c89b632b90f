"""The ``detect`` stage: scores every accepted reading and publishes ``scores``.

Each sensor has its own streaming detector: the one the sensor names (``sensor.detector``),
else the platform's default. A ``scores`` message carries, per reading, the detector's anomaly
score; the alarm stage judges limits and other rules from it.

The scores are also kept, as each sensor's highest score per minute (``score_store``), for
charts that look back; the alarms never depend on that copy.

Detectors live in memory and are checkpointed to the state store with a watermark, the time
of the last reading they learned, so a restarted stage resumes instead of relearning. Readings
at or before the watermark (a replayed message, or a span another worker claimed late) are
scored but not learned: a replay never teaches a detector twice. The output's id derives from
the input's, so a replayed message publishes the same ``scores`` id, which the alarm stage
recognises.

With several workers, each learns from the messages it receives (the bus does not partition
by sensor); a detector then sees a share of its sensor's readings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from sqlalchemy import select

from shopfloor.bus.message import Envelope
from shopfloor.detection.base import Detector
from shopfloor.detection.registry import DEFAULT_DETECTOR, detector_class, make_detector
from shopfloor.detection.score_store import ScoreKeeper
from shopfloor.pipeline.stage import BaseStage, StageContext
from shopfloor.pipeline.state import Checkpointer
from shopfloor.plant.models import Sensor
from shopfloor.readings.events import READINGS_ACCEPTED

log = structlog.get_logger("shopfloor.detection")

SCORES = "scores"
SENSOR_TTL_S = 10.0
US = 1_000_000


@dataclass(frozen=True, slots=True)
class SensorSettings:
    detector: str | None
    read_at: float


@dataclass(slots=True)
class SensorDetector:
    """A sensor's detector and the time (epoch µs) of the last reading it learned."""

    detector: Detector
    watermark_us: int

    def document(self) -> dict[str, Any]:
        return {"detector": self.detector.state(), "watermark_us": self.watermark_us}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SensorDetector:
        return cls(Detector.from_state(document["detector"]), int(document["watermark_us"]))

    def score(self, ts_us: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scores in the readings' order; learns those newer than the watermark."""
        order = np.argsort(ts_us, kind="stable")
        ts_sorted, values_sorted = ts_us[order], values[order]
        first_new = int(np.searchsorted(ts_sorted, self.watermark_us, side="right"))
        seconds = ts_sorted / US
        scores_sorted = np.empty(len(order))
        scores_sorted[:first_new] = self.detector.score(
            seconds[:first_new], values_sorted[:first_new]
        )
        scores_sorted[first_new:] = self.detector.update(
            seconds[first_new:], values_sorted[first_new:]
        )
        if first_new < len(order):
            self.watermark_us = int(ts_sorted[-1])
        scores = np.empty_like(scores_sorted)
        scores[order] = scores_sorted
        return scores


class DetectStage(BaseStage):
    name = "detect"
    topic = READINGS_ACCEPTED
    batch_size = 500
    batch_wait_s = 0.02

    def __init__(
        self, default_detector: str = DEFAULT_DETECTOR, checkpoint_interval_s: float = 30.0
    ) -> None:
        detector_class(default_detector)  # an unknown name fails at start-up, not per message
        self.default_detector = default_detector
        self.checkpoint_interval_s = checkpoint_interval_s
        self._sensors: dict[int, SensorSettings] = {}
        self._detectors: dict[int, SensorDetector] = {}
        self._saved: dict[str, dict[str, Any]] = {}
        self._checkpointer: Checkpointer | None = None
        self._scores: ScoreKeeper | None = None

    async def start(self, context: StageContext) -> None:
        await super().start(context)
        self._checkpointer = context.checkpointer(self.checkpoint_interval_s)
        # Rebuilt on first use: a restart over many sensors does not build them all up front.
        self._saved = await self._checkpointer.load()
        # Load the compiled detector now, not in the first batch's latency.
        make_detector(self.default_detector).update([0.0], [0.0])
        self._checkpointer.start()
        self._scores = ScoreKeeper(context.database)
        self._scores.start()

    async def stop(self) -> None:
        if self._scores is not None:
            await self._scores.close()
        if self._checkpointer is not None:
            self._checkpointer.put_many({str(sid): d for sid, d in self._detectors.items()})
            await self._checkpointer.close()

    async def handle(self, envelopes: list[Envelope]) -> None:
        sensor_ids = {int(e.payload["sensor_id"]) for e in envelopes}
        await self._refresh_sensors(sensor_ids)
        # Per sensor in time order, so a detector learns its readings as they happened.
        ordered = sorted(envelopes, key=lambda e: (e.payload["sensor_id"], min(e.payload["ts"])))
        scored = {e.id: self._score(e) for e in ordered}
        await self.context.publish([scored[e.id] for e in envelopes])
        if self._checkpointer is not None:
            # The detectors themselves: their documents are made when the checkpoint is saved.
            self._checkpointer.put_many({str(sid): self._detectors[sid] for sid in sensor_ids})

    def _score(self, envelope: Envelope) -> Envelope:
        payload = envelope.payload
        sensor_id = int(payload["sensor_id"])
        ts_us = np.asarray(payload["ts"], dtype=np.int64)
        values = np.asarray(payload["values"], dtype=np.float64)
        detector = self._detector_of(sensor_id, self._sensors.get(sensor_id))
        scores = detector.score(ts_us, values)
        if self._scores is not None:
            self._scores.add(sensor_id, ts_us, scores)
        body: dict[str, Any] = {
            "sensor_id": sensor_id,
            "sensor": payload["sensor"],
            "detector": detector.detector.name,
            "ts": payload["ts"],
            "values": payload["values"],
            "scores": scores.round(6).tolist(),
        }
        return Envelope(
            topic=SCORES,
            key=envelope.key,
            payload=body,
            # Derived from the input: a replay publishes the same id, which consumers know.
            id=f"{envelope.id}:detect",
            created_at=envelope.created_at,
        )

    def _detector_of(self, sensor_id: int, settings: SensorSettings | None) -> SensorDetector:
        wanted = (settings.detector if settings else None) or self.default_detector
        current = self._detectors.get(sensor_id)
        if current is None:
            saved = self._saved.pop(str(sensor_id), None)
            if saved is not None:
                current = self._restore(sensor_id, saved)
        if current is None or current.detector.name != wanted:
            if current is not None:
                log.info("detector changed", sensor_id=sensor_id, detector=wanted)
            current = SensorDetector(make_detector(wanted), watermark_us=-(2**62))
        self._detectors[sensor_id] = current
        return current

    @staticmethod
    def _restore(sensor_id: int, saved: dict[str, Any]) -> SensorDetector | None:
        try:
            return SensorDetector.from_document(saved)
        except Exception as exc:  # a state from another version: relearn rather than stop
            log.warning("detector state not restored", sensor_id=sensor_id, error=str(exc))
            return None

    async def _refresh_sensors(self, sensor_ids: set[int]) -> None:
        now = time.monotonic()
        stale = [
            sid
            for sid in sensor_ids
            if (known := self._sensors.get(sid)) is None or now - known.read_at > SENSOR_TTL_S
        ]
        if not stale:
            return
        async with self.context.database.read() as session:
            rows = await session.execute(
                select(Sensor.id, Sensor.detector).where(Sensor.id.in_(stale))
            )
            for sensor_id, detector in rows.all():
                self._sensors[sensor_id] = SensorSettings(detector=detector, read_at=now)
