"""Drift of each model's live inputs, checked on a schedule, and ``drift`` alarms.

Every ``drift_check_every_s``, where the stages run: for each asset whose attributes name
models, and each of those models, the asset's readings of the model's inputs over the rule's
window (ending at its newest reading) are compared with the model version's training reference
(``Registry.reference``), feature by feature (``drift.drift_report``: PSI and Kolmogorov-Smirnov).
When at least ``min_features`` drift, a ``drift`` alarm holds on the asset, one per model
(rule ``drift:<model>``); once they no longer do, it resolves. The thresholds come from the
``drift`` rule covering the asset, else its defaults.

With ``retrain_on_drift``, the process that opens a drift alarm retrains the model from stored
readings (``retrain.retrain_from_readings``: a challenger, compared with the champion, promoted
only when better) and notes the decision on the alarm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.asset_alarms import AssetCondition, covering_rule, judge
from shopfloor.alarms.models import Alarm, AlarmNote
from shopfloor.alarms.publish import offer, record_events
from shopfloor.alarms.rules import Rule
from shopfloor.alarms.schemas import rule_params
from shopfloor.alarms.stages import load_rules_and_shelves
from shopfloor.bus.outbox import OutboxRelay
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import ShopfloorError
from shopfloor.core.paths import parent_path
from shopfloor.ml.drift import FeatureDrift, drift_report
from shopfloor.ml.health import KINDS, names_models
from shopfloor.ml.registry import Registry, VersionInfo
from shopfloor.plant.models import Asset, Sensor
from shopfloor.readings.store import ReadingStore, store_for
from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.ml.drift")
US = 1_000_000
MAX_LIVE = 50_000  # the newest readings per input read back for one check
SEVERITY = "warning"
DEFAULTS = rule_params("drift", {})

# Retrains ``model`` from stored readings; returns a sentence saying what was decided.
Retrainer = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class Checked:
    """One model's inputs on one asset, judged."""

    asset: str
    model: str
    version: int
    features: list[FeatureDrift]
    condition: AssetCondition | None  # None: too few readings to judge


class DriftWatch:
    def __init__(
        self,
        db: Database,
        registry: Callable[[], Registry],
        relay: OutboxRelay | None,
        *,
        every_s: float,
        retrainer: Retrainer | None = None,
    ) -> None:
        self.db = db
        self.store: ReadingStore = store_for(db.dialect)
        self._open_registry = registry
        self._registry: Registry | None = None
        self.relay = relay
        self.every_s = every_s
        self.retrainer = retrainer
        self._retraining: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.check_all()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("drift check failed")
                await asyncio.sleep(self.every_s)
        finally:
            for task in list(self._retraining.values()):
                task.cancel()

    async def check_all(self) -> list[Checked]:
        """Check every model of every asset that names one; what was found."""
        async with self.db.read() as session:
            assets = [
                asset
                for asset in await session.scalars(select(Asset).order_by(Asset.path))
                if names_models(asset.attributes)
            ]
            if not assets:
                return []
            rules, shelves = await load_rules_and_shelves(session)
        registry = await self._registry_opened()
        checked: list[Checked] = []
        for asset in assets:
            for reference in _models_of(asset):
                try:
                    found = await self._check(registry, rules, asset, reference)
                except ShopfloorError as exc:  # an unknown model: health says so already
                    log.info("drift not checked", asset=asset.path, model=reference, why=str(exc))
                    continue
                if found is not None:
                    checked.append(found)
        opened = await self._apply([c.condition for c in checked if c.condition], shelves)
        for model in opened:
            self._retrain_soon(model)
        return checked

    async def _check(
        self, registry: Registry, rules: list[Rule], asset: Asset, reference: str
    ) -> Checked | None:
        info, frame = await asyncio.to_thread(_reference_of, registry, reference)
        if frame is None:
            return None
        rule = covering_rule(rules, "drift", asset.path)
        params = rule.params if rule is not None else DEFAULTS
        async with self.db.read() as session:
            live, newest = await self._live_inputs(session, asset, list(frame.columns), params)
        enough = {
            name: values for name, values in live.items() if len(values) >= params["min_samples"]
        }
        if not enough or newest is None:
            return Checked(asset.path, info.name, info.version, [], None)
        features = drift_report(
            {name: frame[name].to_numpy() for name in enough},
            enough,
            psi_threshold=params["psi"],
            ks_pvalue=params["ks_pvalue"],
        )
        drifted = [f for f in features if f.drifted]
        holds = len(drifted) >= params["min_features"]
        condition = AssetCondition(
            asset_id=asset.id,
            path=asset.path,
            rule=f"drift:{info.name}",
            kind="drift",
            severity=rule.severity if rule is not None else SEVERITY,
            holds=holds,
            message=_message(info, drifted) if holds else f"inputs of {info.name} back in line",
            value=max(f.psi for f in features),
            reading_us=newest,
            rule_id=rule.id if rule is not None else None,
        )
        return Checked(asset.path, info.name, info.version, features, condition)

    async def _live_inputs(
        self, session: AsyncSession, asset: Asset, inputs: list[str], params: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], int | None]:
        """The asset's readings of each input over the window ending at its newest reading."""
        rows = await session.execute(
            select(Sensor.id, Sensor.path).where(Sensor.asset_id == asset.id)
        )
        by_input = {
            path.rsplit("/", 1)[-1]: sensor_id
            for sensor_id, path in rows
            if parent_path(path) == asset.path and path.rsplit("/", 1)[-1] in inputs
        }
        if not by_input:
            return {}, None
        newest = max(
            (ts for _, ts, _ in await self.store.latest(session, list(by_input.values()))),
            default=None,
        )
        if newest is None:
            return {}, None
        start = newest - int(params["window_seconds"] * US)
        live = {}
        for name, sensor_id in by_input.items():
            readings = await self.store.range(
                session, sensor_id, start, newest + 1, MAX_LIVE, newest_first=True
            )
            live[name] = np.array([value for _, value in readings], dtype=np.float64)
        return live, newest

    async def _apply(self, conditions: list[AssetCondition], shelves: Any) -> list[str]:
        """Judge the conditions in one transaction; the models whose alarm this opened."""
        if not conditions:
            return []
        for attempt in (1, 2):
            try:
                async with self.db.write() as session:
                    changes = []
                    for condition in conditions:
                        changes += await judge(
                            session, condition, shelves, utcnow(), self.db.dialect
                        )
                    events = await record_events(session, changes)
                offer(self.relay, events)
                return [
                    document["rule"].removeprefix("drift:")
                    for event, document in changes
                    if event == "alarm.opened"
                ]
            except IntegrityError:
                if attempt == 2:  # another process opened the same alarm: judged again there
                    raise
        return []

    def _retrain_soon(self, model: str) -> None:
        if self.retrainer is None or model in self._retraining:
            return
        self._retraining[model] = asyncio.get_running_loop().create_task(
            self._retrain(model), name=f"retrain-{model}"
        )

    async def _retrain(self, model: str) -> None:
        try:
            decision = await self.retrainer(model)  # type: ignore[misc]
            await self._note_on_alarms(model, decision)
        except Exception as exc:
            log.exception("retraining on drift failed", model=model)
            await self._note_on_alarms(model, f"retraining {model} failed: {exc}")
        finally:
            self._retraining.pop(model, None)

    async def _note_on_alarms(self, model: str, text: str) -> None:
        async with self.db.write() as session:
            alarms = await session.scalars(
                select(Alarm.id).where(Alarm.rule == f"drift:{model}", Alarm.state != "closed")
            )
            now = utcnow()
            session.add_all(
                AlarmNote(alarm_id=alarm_id, author="shopfloor", text=text[:4000], created_at=now)
                for alarm_id in alarms
            )

    async def _registry_opened(self) -> Registry:
        if self._registry is None:
            self._registry = await asyncio.to_thread(self._open_registry)
        return self._registry


def _models_of(asset: Asset) -> list[str]:
    configured = (asset.attributes or {}).get("models") or {}
    return [str(configured[kind]) for kind in KINDS if configured.get(kind)]


def _reference_of(registry: Registry, reference: str) -> tuple[VersionInfo, Any]:
    info = registry.resolve(reference)
    return info, registry.reference(info)


def _message(info: VersionInfo, drifted: list[FeatureDrift]) -> str:
    named = ", ".join(f"{f.feature} (PSI {f.psi:.2f}, KS p {f.ks_pvalue:.1e})" for f in drifted[:5])
    more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
    message = f"inputs of {info.name} v{info.version} drifted from its training data: {named}{more}"
    return message[:500]


def readings_retrainer(db: Database, registry: Callable[[], Registry]) -> Retrainer:
    """Retrain a model from the stored readings of the assets that name it."""

    async def retrain(model: str) -> str:
        from shopfloor.ml.retrain import retrain_from_readings

        async with db.read() as session:
            decision = await retrain_from_readings(
                session, store_for(db.dialect), await asyncio.to_thread(registry), model
            )
        outcome = "promoted to champion" if decision.promoted else "not promoted"
        return (
            f"retrained on drift: v{decision.challenger} registered as challenger, {outcome} "
            f"({decision.reason})"
        )

    return retrain
