"""What state each asset of the plant is in, as the overview shows it.

A sensor is
- **alarm** while it has an alarm that is not resolved (open or acknowledged); so is an asset
  with such an alarm of its own (raised from its models, or filed under it by SPC);
- **stale** when its newest reading is older than ``STALE_INTERVALS`` sampling intervals (at
  least ``MIN_STALE_S``; ``DEFAULT_STALE_S`` for sensors without an interval), or it has none;
- **warning** when its newest reading is outside its limits (no alarm yet: a rule's
  ``for_seconds`` is still running, or the limits rule is off) or within ``NEAR_LIMIT`` of the
  span between its limits from one of them;
- **ok** otherwise.

An asset takes the worst state of its own sensors and of its children (alarm, then stale, then
warning, then ok); children that are shelved or have no sensors count only when all are. An
asset a shelf covers (its path or an ancestor's, ``alarms.shelves``) is **shelved**, whatever
its sensors say. Open alarms are counted over the asset's whole subtree. Every state has a
label and a sentence, so that colour is never the only way to tell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

STALE_INTERVALS = 3
MIN_STALE_S = 10.0
DEFAULT_STALE_S = 600.0
NEAR_LIMIT = 0.1
US = 1_000_000

# Worst first; the rank decides which state an asset shows.
RANK = {"alarm": 5, "stale": 4, "warning": 3, "ok": 2, "shelved": 1, "unmonitored": 0}
LABELS = {
    "alarm": "Alarm",
    "stale": "Stale",
    "warning": "Warning",
    "ok": "OK",
    "shelved": "Shelved",
    "unmonitored": "No sensors",
}
STATES: tuple[str, ...] = tuple(RANK)


@dataclass(frozen=True, slots=True)
class AssetFacts:
    id: int
    path: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class SensorFacts:
    id: int
    path: str
    asset_path: str
    low: float | None
    high: float | None
    sampling_interval_s: float | None


@dataclass(frozen=True, slots=True)
class PlantFacts:
    """Everything the states are computed from, read at one moment."""

    assets: tuple[AssetFacts, ...]
    sensors: tuple[SensorFacts, ...]
    latest: Mapping[int, tuple[int, float]]  # sensor id → (ts µs, value)
    open_alarms: Mapping[str, int]  # sensor path (or the path an alarm is filed under) → count
    shelved: Mapping[str, str]  # asset path → why, for each asset a shelf covers
    now_us: int


@dataclass(frozen=True, slots=True)
class AssetStatus:
    id: int
    path: str
    state: str
    open_alarms: int
    reason: str

    @property
    def label(self) -> str:
        return LABELS[self.state]


@dataclass(frozen=True, slots=True)
class _SensorState:
    state: str
    reason: str


def stale_after_s(sampling_interval_s: float | None) -> float:
    if not sampling_interval_s or sampling_interval_s <= 0:
        return DEFAULT_STALE_S
    return max(MIN_STALE_S, STALE_INTERVALS * sampling_interval_s)


def sensor_state(sensor: SensorFacts, facts: PlantFacts) -> _SensorState:
    name = sensor.path.rsplit("/", 1)[-1]
    if facts.open_alarms.get(sensor.path, 0):
        return _SensorState("alarm", f"{name} has an open alarm")
    newest = facts.latest.get(sensor.id)
    if newest is None:
        return _SensorState("stale", f"{name} has sent no reading yet")
    ts_us, value = newest
    # The sentence names the limit, not the time since: a state that changed every second
    # would be sent to every browser every second.
    allowed_s = stale_after_s(sensor.sampling_interval_s)
    if (facts.now_us - ts_us) / US > allowed_s:
        return _SensorState("stale", f"no reading from {name} in the last {_duration(allowed_s)}")
    if (sensor.low is not None and value < sensor.low) or (
        sensor.high is not None and value > sensor.high
    ):
        return _SensorState("warning", f"{name} is outside its limits")
    if sensor.low is not None and sensor.high is not None and sensor.high > sensor.low:
        margin = NEAR_LIMIT * (sensor.high - sensor.low)
        if value < sensor.low + margin or value > sensor.high - margin:
            return _SensorState("warning", f"{name} is close to a limit")
    return _SensorState("ok", "every sensor reads within its limits")


def plant_status(facts: PlantFacts) -> dict[str, AssetStatus]:
    """The status of every asset, by path."""
    own: dict[str, list[_SensorState]] = {}
    for sensor in facts.sensors:
        own.setdefault(sensor.asset_path, []).append(sensor_state(sensor, facts))
    alarms_under = _alarms_by_asset(facts)
    children: dict[str, list[str]] = {}
    for asset in facts.assets:
        parent, sep, _ = asset.path.rpartition("/")
        if sep:
            children.setdefault(parent, []).append(asset.path)
    out: dict[str, AssetStatus] = {}
    # Deepest first, so that every child is settled before its parent.
    for asset in sorted(facts.assets, key=lambda a: a.path.count("/"), reverse=True):
        kids = [out[path] for path in children.get(asset.path, ()) if path in out]
        sensors = own.get(asset.path, [])
        if facts.open_alarms.get(asset.path, 0):  # an alarm on the asset itself (its models)
            sensors = [*sensors, _SensorState("alarm", "an alarm is open on this asset")]
        state, reason = _combine(sensors, kids)
        if asset.path in facts.shelved:
            state, reason = "shelved", facts.shelved[asset.path]
        out[asset.path] = AssetStatus(
            asset.id, asset.path, state, alarms_under.get(asset.path, 0), reason
        )
    return out


def summary(statuses: Iterable[AssetStatus], leaves: set[str]) -> dict[str, int]:
    """How many of the ``leaves`` (the machines) are in each state, worst first."""
    counts = dict.fromkeys(STATES, 0)
    for status in statuses:
        if status.path in leaves:
            counts[status.state] += 1
    return counts


def _combine(sensors: list[_SensorState], kids: list[AssetStatus]) -> tuple[str, str]:
    candidates = [(s.state, s.reason) for s in sensors] + [
        (kid.state, f"{kid.path.rsplit('/', 1)[-1]}: {kid.reason}") for kid in kids
    ]
    if not candidates:
        return "unmonitored", "no sensors report on this asset"
    monitored = [c for c in candidates if RANK[c[0]] >= RANK["ok"]]
    state, reason = max(monitored or candidates, key=lambda c: RANK[c[0]])
    if state == "ok":
        reason = "every sensor reads within its limits"
    return state, reason


def _alarms_by_asset(facts: PlantFacts) -> dict[str, int]:
    """Open alarms per asset path, counted on the asset and every ancestor."""
    asset_paths = {asset.path for asset in facts.assets}
    totals: dict[str, int] = {}
    for path, count in facts.open_alarms.items():
        segments = path.split("/")
        for depth in range(1, len(segments) + 1):
            prefix = "/".join(segments[:depth])
            if prefix in asset_paths:
                totals[prefix] = totals.get(prefix, 0) + count
    return totals


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"
