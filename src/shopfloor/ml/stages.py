"""The ``health`` stage: each asset's failure risk and remaining useful life, kept up to date as
its readings arrive, and ``failure_risk`` alarms.

``readings.accepted`` only marks the assets whose sensors were read (and whose attributes name
models) as due; a worker task works each due asset out at most every ``health_every_s``, from
its stored readings (``health.asset_health``), writes the figures to ``asset_health`` and judges
its failure risk against the ``failure_risk`` rule covering it (else the built-in threshold,
``failure_risk_threshold``). Working out once per interval instead of once per message keeps a
burst of readings from running the models thousands of times.

Idempotent: the figures are a function of the stored readings, and an alarm counts only a
judgement resting on newer readings than the last it counted. A crash between a message and its
interval loses no reading; every asset with models is due again when the stage starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.asset_alarms import AssetCondition, Change, covering_rule, judge
from shopfloor.alarms.publish import offer, record_events
from shopfloor.alarms.stages import RulesAndShelves
from shopfloor.bus.message import Envelope
from shopfloor.core.clock import to_epoch_us, utcnow
from shopfloor.ml.health import ModelCache, asset_health, names_models
from shopfloor.ml.health_store import save_health
from shopfloor.ml.registry import Registry
from shopfloor.pipeline.stage import BaseStage, StageContext
from shopfloor.plant.models import Asset, Sensor
from shopfloor.readings.events import READINGS_ACCEPTED
from shopfloor.readings.store import store_for

log = structlog.get_logger("shopfloor.ml.health")
BUILT_IN_RULE = "failure_risk"
BUILT_IN_SEVERITY = "warning"
CLEAR_SHARE = 0.8  # a risk clears below this share of its threshold unless the rule says


class HealthStage(BaseStage):
    name = "health"
    topic = READINGS_ACCEPTED
    batch_size = 2000
    batch_wait_s = 0.2

    def __init__(
        self,
        registry: Callable[[], Registry],
        *,
        every_s: float = 5.0,
        default_threshold: float | None = 0.5,
        cache: ModelCache | None = None,
    ) -> None:
        self._open_registry = registry
        self._registry: Registry | None = None
        self._cache = cache or ModelCache()
        self.every_s = every_s
        self.default_threshold = default_threshold
        self._due: set[int] = set()
        self._last: dict[int, float] = {}  # asset → monotonic time it was last worked out
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._known = RulesAndShelves()

    async def start(self, context: StageContext) -> None:
        await super().start(context)
        async with context.database.read() as session:
            rows = await session.execute(select(Asset.id, Asset.attributes))
            self._due.update(asset_id for asset_id, attributes in rows if names_models(attributes))
        self._task = asyncio.create_task(self._work(), name="health-stage")
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def handle(self, envelopes: list[Envelope]) -> None:
        sensor_ids = {int(envelope.payload["sensor_id"]) for envelope in envelopes}
        async with self.context.database.read() as session:
            rows = await session.execute(
                select(Asset.id, Asset.attributes)
                .join(Sensor, Sensor.asset_id == Asset.id)
                .where(Sensor.id.in_(sensor_ids))
                .distinct()
            )
            due = {asset_id for asset_id, attributes in rows if names_models(attributes)}
        if due:
            self._due.update(due)
            self._wake.set()

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            wait = await self._work_out_due()
            if wait is not None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                self._wake.set()

    async def _work_out_due(self) -> float | None:
        """Work out every due asset whose interval has passed; the seconds until the next one
        falls due, or None when none waits."""
        now = time.monotonic()
        ready = [a for a in sorted(self._due) if now - self._last.get(a, -1e9) >= self.every_s]
        for asset_id in ready:
            self._due.discard(asset_id)
            self._last[asset_id] = time.monotonic()
            try:
                await self.work_out(asset_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("asset health failed", asset=asset_id)
        if not self._due:
            return None
        soonest = min(self._last.get(a, -1e9) for a in self._due) + self.every_s
        return max(0.0, soonest - time.monotonic())

    async def work_out(self, asset_id: int) -> dict[str, Any] | None:
        """Work the asset's health out now, store it and judge its failure risk."""
        database = self.context.database
        registry = await self._registry_opened()
        await self._known.refresh(database)
        async with database.read() as session:
            asset = await session.get(Asset, asset_id)
            if asset is None or not names_models(asset.attributes):
                return None
            health = await asset_health(
                session, store_for(database.dialect), registry, self._cache, asset
            )
        for attempt in (1, 2):
            try:
                async with database.write() as session:
                    await save_health(session, asset_id, health, utcnow())
                    changes = await self._judge_risk(session, asset, health)
                    events = await record_events(session, changes)
                offer(self.context.relay, events)
                return health
            except IntegrityError:
                if attempt == 2:  # another worker opened the same alarm first: count on it
                    raise
        return health

    async def _judge_risk(
        self, session: AsyncSession, asset: Asset, health: dict[str, Any]
    ) -> list[Change]:
        risk, at = health["failure_risk"], health["updated_at"]
        if risk is None or at is None:
            return []
        condition = self._risk_condition(asset, float(risk), at, health["models"]["failure"])
        if condition is None:
            return []
        return await judge(
            session, condition, self._known.shelves, utcnow(), self.context.database.dialect
        )

    def _risk_condition(
        self, asset: Asset, risk: float, at: datetime, model: dict[str, Any]
    ) -> AssetCondition | None:
        rule = covering_rule(self._known.rules, "failure_risk", asset.path)
        if rule is not None:
            threshold = float(rule.params["threshold"])
            clear_below = rule.params.get("clear_below") or threshold * CLEAR_SHARE
            name, severity, rule_id = rule.name, rule.severity, rule.id
        elif self.default_threshold is not None:
            threshold = self.default_threshold
            clear_below = threshold * CLEAR_SHARE
            name, severity, rule_id = BUILT_IN_RULE, BUILT_IN_SEVERITY, None
        else:
            return None
        if clear_below <= risk < threshold:
            return None  # between the two: whatever holds now goes on holding
        return AssetCondition(
            asset_id=asset.id,
            path=asset.path,
            rule=name,
            kind="failure_risk",
            severity=severity,
            holds=risk >= threshold,
            message=(
                f"failure risk {risk:.0%} is at or above {threshold:.0%} "
                f"({model['name']} v{model['version']})"
                if risk >= threshold
                else f"failure risk {risk:.0%} is back below {clear_below:.0%}"
            ),
            value=risk,
            reading_us=to_epoch_us(at),
            rule_id=rule_id,
        )

    async def _registry_opened(self) -> Registry:
        if self._registry is None:  # MLflow is slow to import: only once an asset needs it
            self._registry = await asyncio.to_thread(self._open_registry)
        return self._registry
