"""Signal models of the demo plant: deterministic, vectorised, a pure function of time.

A value depends only on (seed, sensor, second), never on the value before it: the backfill and
the live loop compute the same series, a chunk of an hour equals the same hour computed second
by second, and a restarted demo continues where it left off.

Each sensor is: a level between its idle and loaded values following the plant's daily load,
an optional periodic cycle, slow drift (wear that builds over a shift and slow wander), white
noise, and rare faults drawn per hour from the seed — spikes, level shifts, noise bursts and a
machine that degrades, fails beyond its limits and is repaired.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

HOUR_S = 3600
DAY_S = 86_400
SHIFT_S = 8 * HOUR_S
SHIFT_CHANGE_S = 6 * HOUR_S  # shifts change at 06:00, 14:00 and 22:00 UTC

# The plant's load over a day (UTC): three shifts with breaks, a quiet night.
_LOAD_AT_HOUR = (
    (0.0, 0.35), (5.75, 0.35), (6.25, 1.0), (9.9, 1.0), (10.0, 0.55), (10.4, 0.55),
    (10.5, 1.0), (13.75, 1.0), (14.25, 0.85), (18.0, 0.85), (18.1, 0.5), (18.4, 0.5),
    (18.5, 0.85), (21.75, 0.85), (22.25, 0.35), (24.0, 0.35),
)  # fmt: skip
_LOAD_T = np.array([h for h, _ in _LOAD_AT_HOUR]) * HOUR_S
_LOAD_V = np.array([v for _, v in _LOAD_AT_HOUR])

# Fault rates: rare enough to stand out, frequent enough that an hour of history shows some.
MINOR_FAULTS_PER_HOUR = 3.0
FAILURE_CHANCE_PER_HOUR = 0.2
MAX_FAULT_S = 50 * 60  # no fault lasts longer: bounds how far back a range looks for them
_CACHED_BLOCKS = 4

FaultKind = Literal["spike", "shift", "burst", "failure"]
# Applied in this order, so a spike during a failure still shows.
_KIND_ORDER: dict[str, int] = {"shift": 0, "burst": 1, "failure": 2, "spike": 3}


def load_factor(ts_s: np.ndarray) -> np.ndarray:
    """The plant's load (0..1) at each epoch second."""
    return np.interp(np.asarray(ts_s) % DAY_S, _LOAD_T, _LOAD_V)


@dataclass(frozen=True)
class SignalSpec:
    """How one sensor behaves, in its own unit."""

    idle: float  # level with the machine idle
    loaded: float  # level at full load
    noise: float  # standard deviation of the measurement noise
    low: float
    high: float
    drift: float = 0.0  # how far wear and slow wander move the level
    direction: int = 1  # which way wear and faults push the value: +1 up, -1 down
    wear: bool = True  # whether the machine's degradation shows in this sensor
    cycle_s: float = 0.0  # period of a regular cycle (e.g. a compressor loading, unloading)
    cycle_amp: float = 0.0
    floor: float | None = None  # a physical bound no reading goes below (a speed, a flow)

    @property
    def gap(self) -> float:
        """Distance from the normal band to the limit that faults push towards."""
        if self.direction > 0:
            return self.high - min(self.idle, self.loaded)
        return max(self.idle, self.loaded) - self.low

    @property
    def limit(self) -> float:
        return self.high if self.direction > 0 else self.low

    @property
    def decimals(self) -> int:
        # One digit finer than the noise: readings look like an instrument's, not a float's.
        return max(0, 1 - math.floor(math.log10(self.noise)))


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    target: int  # the sensor's index; for a failure, the machine's
    start_s: int
    duration_s: int  # for a failure: the degradation ramp plus the time spent failed
    # spike: how far beyond the limit, shift: the offset (both as a fraction of the gap);
    # burst: the noise multiplier; failure: how far beyond the limit it settles.
    size: float
    ramp_s: int = 0

    @property
    def end_s(self) -> int:
        return self.start_s + self.duration_s


def _column(specs: Sequence[SignalSpec], name: str) -> np.ndarray:
    return np.array([float(getattr(s, name)) for s in specs]).reshape(-1, 1)


class PlantSignals:
    """Values of every sensor of a plant at given epoch seconds."""

    def __init__(self, specs: Sequence[SignalSpec], machine_of: Sequence[int], seed: int) -> None:
        if len(specs) != len(machine_of):
            raise ValueError("one machine index per sensor")
        self.specs = list(specs)
        self.machine_of = np.asarray(machine_of, dtype=np.int64)
        self.seed = seed
        self.scheduled: list[Fault] = []
        n = len(self.specs)
        self._idle, self._loaded = _column(specs, "idle"), _column(specs, "loaded")
        self._noise_std, self._drift = _column(specs, "noise"), _column(specs, "drift")
        self._direction = _column(specs, "direction")
        self._cycle_s, self._cycle_amp = _column(specs, "cycle_s"), _column(specs, "cycle_amp")
        self._gap, self._limit = _column(specs, "gap"), _column(specs, "limit")
        self._floor = np.array([-np.inf if s.floor is None else s.floor for s in specs])
        self._scale = 10.0 ** _column(specs, "decimals")
        shape = np.random.default_rng([seed, 0])
        self._wander_period = shape.uniform(3, 9, (n, 1)) * HOUR_S
        self._wander_phase = shape.uniform(0, 2 * np.pi, (n, 1))
        self._cycle_phase = shape.uniform(0, 2 * np.pi, (n, 1))
        wearing = {int(m) for m, s in zip(self.machine_of, specs, strict=True) if s.wear}
        self.wearing_machines = sorted(wearing)
        self._noise_blocks: dict[int, np.ndarray] = {}
        self._fault_blocks: dict[int, list[Fault]] = {}

    def __len__(self) -> int:
        return len(self.specs)

    def values(self, ts_s: np.ndarray) -> np.ndarray:
        """Readings, shape (sensors, len(ts_s)), rounded to each sensor's resolution."""
        t = np.asarray(ts_s, dtype=np.int64)
        if not len(t):
            return np.empty((len(self), 0))
        level = self._normal_level(t)
        noise_std = np.broadcast_to(self._noise_std, level.shape).copy()
        faults = self.faults_between(int(t.min()), int(t.max()) + 1)
        for fault in sorted(faults, key=lambda f: _KIND_ORDER[f.kind]):
            self._apply(fault, t, level, noise_std)
        values = np.maximum(level + noise_std * self._noise(t), self._floor.reshape(-1, 1))
        return np.round(values * self._scale) / self._scale

    def _normal_level(self, t: np.ndarray) -> np.ndarray:
        tf = t.astype(np.float64)
        level = self._idle + (self._loaded - self._idle) * load_factor(tf)
        period = np.where(self._cycle_s > 0, self._cycle_s, 1.0)  # amplitude is 0 there
        level += self._cycle_amp * np.sin(2 * np.pi * tf / period + self._cycle_phase)
        # Wear builds through a shift and the shift-change maintenance resets it; slow
        # wander rides on top so no two sensors drift alike.
        worn = ((t - SHIFT_CHANGE_S) % SHIFT_S) / SHIFT_S
        wander = np.sin(2 * np.pi * tf / self._wander_period + self._wander_phase)
        level += self._direction * self._drift * (0.5 * worn + 0.5 * wander)
        return level

    def _apply(self, fault: Fault, t: np.ndarray, level: np.ndarray, std: np.ndarray) -> None:
        active = (t >= fault.start_s) & (t < fault.end_s)
        if not active.any():
            return
        i = fault.target
        if fault.kind == "spike":
            level[i, active] = self._beyond_limit(i, fault.size)
        elif fault.kind == "shift":
            level[i, active] += self._direction[i, 0] * fault.size * self._gap[i, 0]
        elif fault.kind == "burst":
            std[i, active] *= fault.size
        else:
            self._apply_failure(fault, t, active, level)

    def _apply_failure(
        self, fault: Fault, t: np.ndarray, active: np.ndarray, level: np.ndarray
    ) -> None:
        # Degradation accelerates (quadratic ramp) towards a level beyond the limit, stays
        # there until the repair, then the machine is back to normal at once.
        progress = np.clip((t[active] - fault.start_s) / max(fault.ramp_s, 1), 0.0, 1.0) ** 2
        rows = [
            i
            for i, spec in enumerate(self.specs)
            if spec.wear and self.machine_of[i] == fault.target
        ]
        for i in rows:
            target = self._beyond_limit(i, fault.size)
            level[i, active] = (1 - progress) * level[i, active] + progress * target

    def _beyond_limit(self, sensor: int, fraction: float) -> float:
        """A level past the sensor's limit by ``fraction`` of its gap, in the fault direction."""
        return float(
            self._limit[sensor, 0] + self._direction[sensor, 0] * fraction * self._gap[sensor, 0]
        )

    def faults_between(self, start_s: int, end_s: int) -> list[Fault]:
        """Every fault active at some second of ``[start_s, end_s)``, in start order."""
        first = max(0, (start_s - MAX_FAULT_S) // HOUR_S)
        last = (end_s - 1) // HOUR_S
        candidates = [f for b in range(first, last + 1) for f in self._faults_in_hour(b)]
        candidates += self.scheduled
        found = [f for f in candidates if f.start_s < end_s and f.end_s > start_s]
        return sorted(found, key=lambda f: (f.start_s, f.kind, f.target))

    def schedule_failure(self, machine: int, fails_at_s: int, ramp_s: int, down_s: int) -> Fault:
        """Add a failure on top of the random ones: the demo's opening act."""
        fault = Fault("failure", machine, fails_at_s - ramp_s, ramp_s + down_s, 0.1, ramp_s)
        self.scheduled.append(fault)
        return fault

    def _faults_in_hour(self, block: int) -> list[Fault]:
        cached = self._fault_blocks.get(block)
        if cached is None:
            cached = self._draw_faults(block)
            _remember(self._fault_blocks, block, cached)
        return cached

    def _draw_faults(self, block: int) -> list[Fault]:
        rng = np.random.default_rng([self.seed, 2, block])
        hour = block * HOUR_S
        faults = []
        for _ in range(rng.poisson(MINOR_FAULTS_PER_HOUR)):
            kind = str(rng.choice(["spike", "shift", "burst"], p=[0.5, 0.3, 0.2]))
            sensor, start = int(rng.integers(len(self))), hour + int(rng.integers(HOUR_S))
            if kind == "spike":
                duration, size = int(rng.integers(1, 4)), float(rng.uniform(0.1, 0.5))
            elif kind == "shift":
                duration, size = int(rng.integers(300, 1200)), float(rng.uniform(0.3, 0.8))
            else:
                duration, size = int(rng.integers(30, 180)), float(rng.uniform(4.0, 8.0))
            faults.append(Fault(kind, sensor, start, duration, size))  # type: ignore[arg-type]
        if self.wearing_machines and rng.random() < FAILURE_CHANCE_PER_HOUR:
            machine = int(rng.choice(self.wearing_machines))
            ramp, down = int(rng.integers(20 * 60, 40 * 60)), int(rng.integers(3 * 60, 6 * 60))
            start = hour + int(rng.integers(HOUR_S))
            size = float(rng.uniform(0.05, 0.15))
            faults.append(Fault("failure", machine, start, ramp + down, size, ramp))
        return faults

    def _noise(self, t: np.ndarray) -> np.ndarray:
        # Drawn per hour block from (seed, hour): the same second always gets the same noise.
        blocks = t // HOUR_S
        out = np.empty((len(self), len(t)))
        for block in np.unique(blocks):
            picked = blocks == block
            out[:, picked] = self._noise_block(int(block))[:, t[picked] - block * HOUR_S]
        return out

    def _noise_block(self, block: int) -> np.ndarray:
        cached = self._noise_blocks.get(block)
        if cached is None:
            rng = np.random.default_rng([self.seed, 1, block])
            cached = rng.standard_normal((len(self), HOUR_S))
            _remember(self._noise_blocks, block, cached)
        return cached


def _remember(cache: dict, key: int, value: object) -> None:  # type: ignore[type-arg]
    # A few blocks suffice: the live loop and the backfill walk forward through time.
    if len(cache) >= _CACHED_BLOCKS:
        cache.pop(next(iter(cache)))
    cache[key] = value
