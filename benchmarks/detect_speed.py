"""Detector throughput and state size on synthetic sensors, River's HalfSpaceTrees in the same run.

Data: per sensor a level, a daily cycle (random amplitude and phase), Gaussian noise, a slow
random-walk drift, rare spikes (about one in 2,000 readings, 6-15 noise units) and, on about a
third of the sensors, one level shift; every sensor read at the same 1-minute instants (10,000
points is about one week), numpy ``default_rng`` seeded.

For each registered detector, one detector per sensor (created inside the timing), one thread:

* **batch**: ``update(t, x)`` once per sensor on its whole series;
* **per 100**: ``update`` on consecutive slices of 100 readings, as a streaming stage calls it
  (the scores must equal the batch ones: checked).

Each is timed ``--repeat`` times after a warm-up call on a small array (numba compilation or
cache loading excluded); the median is reported with the range of all runs, and CPU/wall shows
whether the process got its core (a shared 2-core virtual machine: below ~95 %, something else
ran). State: ``state_bytes`` per sensor and the length of the JSON state document.

The peer, same data, same process: River ``HalfSpaceTrees`` (as in ``benchmarks/nab.py``: the
MinMax-scaled value, score_one then learn_one) on the first few sensors only (it is slow), with
the HST paper's settings and with River's defaults; its readings/s leave out building the trees
(shown apart, per model); its state is the length of the pickled model.

Run from the project root: ``python -m benchmarks.detect_speed [--sensors 1000 --points 10000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from benchmarks.common import banner, markdown_table
from benchmarks.nab import HST_SETTINGS, hst_scores, settings_text
from shopfloor.detection.base import Detector
from shopfloor.detection.registry import DEFAULT_DETECTOR, DETECTORS, make_detector

START = 1_735_689_600.0  # 2025-01-01 00:00 UTC
RIVER_SENSORS = {"paper": 3, "river-default": 10}  # about 60 s and 5 s here


@dataclass
class Timing:
    label: str
    mode: str
    shape: str  # "sensors x points" measured
    readings: int  # per run
    walls: list[float] = field(default_factory=list)  # seconds per run
    cpu: float = 0.0  # process CPU seconds, all runs
    wall: float = 0.0  # wall seconds over the same span
    state_bytes: str = ""
    document_bytes: str = ""
    build: str = ""

    def rates(self) -> list[float]:
        return [self.readings / wall for wall in self.walls]

    def median_rate(self) -> float:
        return statistics.median(self.rates())

    def row(self) -> list[str]:
        rates = self.rates()
        spread = f"{_short(min(rates))}-{_short(max(rates))}" if len(rates) > 1 else ""
        return [
            self.label,
            self.mode,
            self.shape,
            f"{self.median_rate():,.0f}",
            spread,
            f"{100 * self.cpu / self.wall:.0f}%",
            self.state_bytes,
            self.document_bytes,
            self.build,
        ]


def _short(rate: float) -> str:
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.1f}k"


def synthetic(sensors: int, points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(times in epoch seconds, values of shape sensors x points)."""
    rng = np.random.default_rng(seed)
    t = START + 60.0 * np.arange(points)
    day = 2 * np.pi * (t % 86_400) / 86_400
    level = rng.uniform(20, 80, (sensors, 1))
    noise = level * rng.uniform(0.005, 0.03, (sensors, 1))
    amplitude = level * rng.uniform(0.0, 0.2, (sensors, 1))
    x = level + amplitude * np.sin(day + rng.uniform(0, 2 * np.pi, (sensors, 1)))
    x += noise * rng.standard_normal((sensors, points))
    x += np.cumsum(0.02 * noise * rng.standard_normal((sensors, points)), axis=1)
    spikes = rng.random((sensors, points)) < 5e-4
    sizes = rng.choice([-1.0, 1.0], spikes.sum()) * rng.uniform(6, 15, spikes.sum())
    x[spikes] += sizes * np.broadcast_to(noise, x.shape)[spikes]
    shifted = rng.random(sensors) < 0.3
    at = rng.integers(points // 4, points, sensors)
    step = rng.choice([-1.0, 1.0], sensors) * rng.uniform(3, 8, sensors) * noise[:, 0]
    x += np.where(np.arange(points) >= at[:, None], (step * shifted)[:, None], 0.0)
    return t, x


def time_detector(
    name: str, t: np.ndarray, x: np.ndarray, repeat: int, chunk: int
) -> tuple[Timing, Timing, bool]:
    """(batch timing, per-chunk timing, whether both gave the same scores)."""
    make_detector(name).update(t[:16], x[0, :16])  # numba: compile or load before the clock
    sensors, points = x.shape
    label = name + (" (default)" if name == DEFAULT_DETECTOR else "")
    shape = f"{sensors:,} x {points:,}"
    batch = Timing(label, "batch", shape, sensors * points)
    sliced = Timing(label, f"per {chunk}", shape, sensors * points)
    same = True
    for _ in range(repeat):  # interleaved, to spread drift over both modes
        detectors, reference = _run(name, t, x, points, batch)
        detectors, scores = _run(name, t, x, chunk, sliced)
        same = same and bool(np.array_equal(scores, reference))
    sizes = {d.state_bytes for d in detectors}
    documents = {len(json.dumps(d.state())) for d in detectors}
    batch.state_bytes = "/".join(f"{s:,}" for s in sorted(sizes))
    batch.document_bytes = "/".join(f"{s:,}" for s in sorted(documents))
    return batch, sliced, same


def _run(
    name: str, t: np.ndarray, x: np.ndarray, step: int, timing: Timing
) -> tuple[list[Detector], np.ndarray]:
    """One detector per sensor, fed ``step`` readings per call; adds one run to ``timing``."""
    scores = np.empty_like(x)
    detectors = []
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(x.shape[0]):
        detector = make_detector(name)
        for k in range(0, x.shape[1], step):
            scores[i, k : k + step] = detector.update(t[k : k + step], x[i, k : k + step])
        detectors.append(detector)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    timing.walls.append(wall)
    timing.cpu += cpu
    timing.wall += wall
    return detectors, scores


def time_river(label: str, t: np.ndarray, x: np.ndarray, sensors: int) -> Timing:
    """HST on the first ``sensors`` sensors, each one run: scoring only, building apart."""
    timing = Timing(f"River HST, {label}", "batch", f"{sensors:,} x {x.shape[1]:,}", x.shape[1])
    builds = []
    for i in range(sensors):
        wall, cpu = time.perf_counter(), time.process_time()
        run = hst_scores(t, x[i], HST_SETTINGS[label])
        timing.cpu += time.process_time() - cpu
        timing.wall += time.perf_counter() - wall
        timing.walls.append(run.seconds)
        builds.append(run.build_seconds)
    timing.state_bytes = f"pickle {len(pickle.dumps(run.model)):,}"
    timing.build = f"{statistics.median(builds):.2f}"
    return timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detect_speed", description=__doc__)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=100, help="readings per streaming call")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--detector", action="append", choices=sorted(DETECTORS), default=None)
    parser.add_argument("--river-sensors", type=int, default=None, help="both HST settings")
    parser.add_argument("--hst", choices=[*HST_SETTINGS, "both", "none"], default="both")
    args = parser.parse_args(argv)

    banner("Detector speed — benchmarks/detect_speed.py")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average before the run: {load} ({os.cpu_count()} cores, shared virtual machine)")
    started = time.perf_counter()
    t, x = synthetic(args.sensors, args.points, args.seed)
    print(
        f"{args.sensors:,} sensors x {args.points:,} points generated in "
        f"{time.perf_counter() - started:.1f} s"
    )

    timings, checks = [], []
    for name in args.detector or DETECTORS:
        batch, sliced, same = time_detector(name, t, x, args.repeat, args.chunk)
        timings += [batch, sliced]
        checks.append(f"{name}: per-{args.chunk} scores {'==' if same else 'DIFFER FROM'} batch")
        print(f"  {name} done", flush=True)
    labels = list(HST_SETTINGS) if args.hst == "both" else [] if args.hst == "none" else [args.hst]
    rivers = []
    for label in labels:
        count = min(args.river_sensors or RIVER_SENSORS[label], args.sensors)
        began = time.perf_counter()
        rivers.append(time_river(label, t, x, count))
        print(f"  River HST, {label}: {count} sensors in {time.perf_counter() - began:.0f} s")
    timings += rivers

    print()
    headers = [
        "detector",
        "mode",
        "sensors x points",
        "readings/s (median)",
        "all runs",
        "CPU/wall",
        "state bytes/sensor",
        "JSON state bytes",
        "build s/model",
    ]
    print(markdown_table(headers, [timing.row() for timing in timings]))
    if rivers:
        ratios = [
            [b.label, *(f"{b.median_rate() / r.median_rate():,.0f}x" for r in rivers)]
            for b in timings
            if b.mode == "batch" and b not in rivers
        ]
        print()
        print(markdown_table(["detector (batch)", *(f"÷ {r.label}" for r in rivers)], ratios))
    print()
    print("\n".join(checks))
    print(
        f"Detectors: median of {args.repeat} runs, each all {args.sensors:,} sensors; 'all runs' "
        "is the range. River: each sensor is one run (median per sensor, range across sensors), "
        "scoring only, tree building given apart. One thread throughout."
    )
    for label in labels:
        print(f"River HST {label}: {settings_text(HST_SETTINGS[label])}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
