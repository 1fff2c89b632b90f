"""The platform's pipeline as one piece: the bus, the outbox relay and the stages.

``serve`` runs it inside the API process (the relay always, the stages unless
``--no-pipeline``); ``worker`` runs it alone. Several processes on one shared bus split each
stage's messages through its consumer group.
"""

from __future__ import annotations

import asyncio
import os
import socket
from contextlib import suppress

from shopfloor.alarms.stages import AlarmStage
from shopfloor.bus import Bus, create_bus
from shopfloor.bus.outbox import OutboxRelay
from shopfloor.config import Settings
from shopfloor.detection.stages import DetectStage
from shopfloor.pipeline.runner import PipelineRunner
from shopfloor.pipeline.stage import Stage
from shopfloor.readings.events import READINGS_ACCEPTED, expand_accepted
from shopfloor.storage import Database


def default_stages(settings: Settings) -> list[Stage]:
    return [
        DetectStage(settings.default_detector, settings.detector_checkpoint_s),
        AlarmStage(),
    ]


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Pipeline:
    def __init__(self, settings: Settings, db: Database, *, run_stages: bool) -> None:
        self.db = db
        self.bus: Bus = create_bus(
            settings.bus_url, visibility_timeout_s=settings.bus_visibility_timeout_s
        )
        self.relay = OutboxRelay(
            db,
            self.bus,
            {READINGS_ACCEPTED: expand_accepted},
            recover_after_s=settings.outbox_recover_after_s,
            recover_every_s=min(5.0, settings.outbox_recover_after_s / 2),
        )
        self.runner = (
            PipelineRunner(self.bus, default_stages(settings), consumer_name(), database=db)
            if run_stages
            else None
        )
        self._relay_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.bus.start()
        self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay")
        if self.runner is not None:
            await self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
        if self._relay_task is not None:
            self._relay_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._relay_task
        await self.bus.close()
