"""The platform's pipeline as one piece: the bus, the outbox relay and the stages.

``serve`` runs it inside the API process (the relay always, the stages unless
``--no-pipeline``); ``worker`` runs it alone. Several processes on one shared bus split each
stage's messages through its consumer group.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from contextlib import suppress

from shopfloor.alarms.clock import AlarmClock
from shopfloor.alarms.stages import AlarmStage
from shopfloor.bus import Bus, create_bus
from shopfloor.bus.base import RetryPolicy
from shopfloor.bus.outbox import OutboxRelay
from shopfloor.config import Settings
from shopfloor.detection.stages import DetectStage
from shopfloor.ml.drift_watch import DriftWatch, readings_retrainer
from shopfloor.ml.health import ModelCache
from shopfloor.ml.registry import Registry
from shopfloor.ml.stages import HealthStage
from shopfloor.notify.senders import SmtpConfig
from shopfloor.notify.stages import NotifyStage
from shopfloor.notify.worker import DeliveryWorker
from shopfloor.pipeline.runner import PipelineRunner
from shopfloor.pipeline.stage import Stage
from shopfloor.quality.stages import SpcStage
from shopfloor.readings.events import READINGS_ACCEPTED, expand_accepted
from shopfloor.readings.store import store_for
from shopfloor.storage import Database


def registry_opener(settings: Settings) -> Callable[[], Registry]:
    return lambda: Registry.from_settings(settings.data_dir, settings.mlflow_url)


def default_stages(settings: Settings, notifier: DeliveryWorker | None = None) -> list[Stage]:
    return [
        DetectStage(settings.default_detector, settings.detector_checkpoint_s),
        AlarmStage(),
        SpcStage(),
        NotifyStage(notifier.wake if notifier is not None else None),
        HealthStage(
            registry_opener(settings),
            every_s=settings.health_every_s,
            default_threshold=settings.failure_risk_threshold,
            cache=ModelCache(settings.model_serving_url, settings.model_serving_timeout_s),
        ),
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
        # Deliveries are sent where the stages run.
        self.notifier = (
            DeliveryWorker(
                db,
                smtp=SmtpConfig.from_settings(settings),
                public_url=settings.public_url,
                retry=RetryPolicy(
                    max_attempts=settings.notify_max_attempts,
                    base_delay_s=settings.notify_retry_base_s,
                    max_delay_s=settings.notify_retry_max_s,
                    jitter=0.5,
                ),
            )
            if run_stages
            else None
        )
        self.runner = (
            PipelineRunner(
                self.bus,
                default_stages(settings, self.notifier),
                consumer_name(),
                database=db,
                relay=self.relay,
            )
            if run_stages
            else None
        )
        # Timed alarm changes (escalation, reminders, no_data) run where the stages run.
        self.clock = (
            AlarmClock(
                db,
                store_for(db.dialect),
                self.relay,
                tick_s=settings.alarm_tick_s,
                close_after_s=settings.alarm_close_after_s,
            )
            if run_stages
            else None
        )
        # Drift of the models' inputs, checked where the stages run.
        self.drift = (
            DriftWatch(
                db,
                registry_opener(settings),
                self.relay,
                every_s=settings.drift_check_every_s,
                retrainer=(
                    readings_retrainer(db, registry_opener(settings))
                    if settings.retrain_on_drift
                    else None
                ),
            )
            if run_stages and settings.drift_check_every_s > 0
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.bus.start()
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.notifier is not None:
            await self.notifier.start()
        if self.runner is not None:
            await self.runner.start()
        if self.clock is not None:
            self._tasks.append(asyncio.create_task(self.clock.run(), name="alarm-clock"))
        if self.drift is not None:
            self._tasks.append(asyncio.create_task(self.drift.run(), name="drift-watch"))

    async def stop(self) -> None:
        for task in self._tasks[1:]:  # the clock first: it writes events the relay publishes
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if self.runner is not None:
            await self.runner.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        if self._tasks:
            self._tasks[0].cancel()
            with suppress(asyncio.CancelledError):
                await self._tasks[0]
        self._tasks = []
        await self.bus.close()
