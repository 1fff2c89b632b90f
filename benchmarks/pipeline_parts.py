"""What benchmarks/pipeline.py measures with, and how it reports: the CPU of each process, the
messages each stage has settled, the alarms as the database holds them, the result tables and
the verdicts against the targets."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from dataclasses import dataclass, field

import asyncpg
import numpy as np
from redis import Redis

from benchmarks.common import Database, Server, markdown_table
from benchmarks.meter import family_cpu, machine_cpu, process_cpu

TARGETS = {"memory": 100_000, "redis": 50_000}
P95_TARGET_MS = 100.0
EVERY = 10  # every 10th reading sent is out of limits
OTHER_LOAD_LIMIT = 0.10
METRIC = re.compile(
    rb'^shopfloor_pipeline_messages_total\{(?=[^}]*outcome="processed")[^}]*stage="(\w+)"[^}]*\}'
    rb" ([0-9.e+]+)$",
    re.M,
)


class Cpu:
    """CPU of the named processes (fractions of one core) and of the machine (of all cores)."""

    def __init__(self, pids: dict[str, int], families: dict[str, int]) -> None:
        self.pids, self.families = pids, families

    def _sample(self) -> list[float]:
        own = [process_cpu(pid) for pid in self.pids.values()]
        own += [family_cpu(pid) for pid in self.families.values()]
        return [time.perf_counter(), time.process_time(), *own, *machine_cpu()]

    def __enter__(self) -> Cpu:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        delta = [b - a for a, b in zip(self._start, self._sample(), strict=True)]
        wall, client, *own, busy, _iowait, elapsed = delta
        names = ["client", *self.pids, *self.families]
        self.shares = {n: s / wall for n, s in zip(names, [client, *own], strict=True)}
        self.busy = busy / max(elapsed, 1e-9)
        self.other = max(0.0, busy - client - sum(own)) / max(elapsed, 1e-9)

    def describe(self) -> str:
        merged: dict[str, float] = {}
        for name, share in self.shares.items():
            key = name.split("-")[0]  # worker-0, worker-1 → worker
            merged[key] = merged.get(key, 0.0) + share
        return " ".join(f"{n} {s:.0%}" for n, s in merged.items())


class Settled:
    """Messages each stage has settled so far: {"detect": n, "alarm": n}."""

    def __init__(self, server: Server, redis_url: str | None) -> None:
        self.client = server.client()
        self.redis = Redis.from_url(redis_url) if redis_url else None

    def counts(self) -> dict[str, int]:
        if self.redis is None:
            body = self.client.get("/metrics")[1]
            return {m[1].decode(): int(float(m[2])) for m in METRIC.finditer(body)}
        counts = {}
        for stage, topic in (("detect", "readings.accepted"), ("alarm", "scores")):
            with contextlib.suppress(Exception):  # the stream or group may not exist yet
                for group in self.redis.xinfo_groups(f"shopfloor:{topic}"):
                    if group["name"] in (stage, stage.encode()):
                        counts[stage] = int(group["entries-read"] or 0) - int(group["pending"])
        return counts

    def close(self) -> None:
        self.client.close()
        if self.redis is not None:
            self.redis.close()


class Alarms:
    """The limits alarms, read straight from the database: sensor id → (count, last µs).

    The count sums every limits alarm of the sensor (one that resolved and closed counted its
    breaches too); the last reading is the newest any of them counted. Other rules (the
    detector's anomaly alarms) are left out.
    """

    SQL = (
        "SELECT sensor_id, sum(count), max(last_reading_us) FROM alarms "
        "WHERE rule = 'limits' GROUP BY sensor_id"
    )

    def __init__(self, db: Database) -> None:
        self.db = db
        if db.backend == "sqlite":
            self.sqlite = sqlite3.connect(db.sqlite_path, isolation_level=None, timeout=30)
        else:
            self.loop = asyncio.new_event_loop()
            self.pg = self.loop.run_until_complete(asyncpg.connect(db.asyncpg_dsn))

    def read(self) -> dict[int, tuple[int, int]]:
        if self.db.backend == "sqlite":
            rows = self.sqlite.execute(self.SQL).fetchall()
        else:
            rows = self.loop.run_until_complete(self.pg.fetch(self.SQL))
        return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}

    def total(self) -> int:
        return sum(count for count, _ in self.read().values())

    def close(self) -> None:
        if self.db.backend == "sqlite":
            self.sqlite.close()
        else:
            self.loop.run_until_complete(self.pg.close())
            self.loop.close()


@dataclass
class Setup:
    backend: str
    bus: str  # "memory (ingest alone)", "memory", "redis"
    processes: str
    server: Server
    cpu_pids: dict[str, int]
    cpu_families: dict[str, int]
    settled: Settled | None = None  # None: no stage runs (the baseline)
    alarms: Alarms | None = None

    def close(self) -> None:
        for part in (self.settled, self.alarms):
            if part is not None:
                part.close()


@dataclass
class Throughput:
    setup: Setup
    readings: int
    posted_s: float
    scored_s: float | None = None
    done_s: float | None = None
    counted: int = 0
    retried: int = 0
    cpu: Cpu | None = None

    def rate(self, end: str) -> float | None:
        """Readings/s until ``end``: "posted", "scored" (detect settled) or "done" (alarm)."""
        seconds = getattr(self, f"{end}_s")
        return None if seconds is None else self.readings / seconds


@dataclass
class Latency:
    setup: Setup
    rate: float
    samples: list[float] = field(default_factory=list)  # seconds
    missed: int = 0
    poll_s: float = 0.0  # mean time of one poll cycle, query included
    cpu: Cpu | None = None

    def pct(self, q: float) -> float:
        return float(np.percentile(self.samples, q) * 1000) if self.samples else float("nan")


@dataclass
class Results:
    throughput: list[Throughput] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def rate(result: Throughput, end: str) -> str:
    value = result.rate(end)
    return "did not settle" if value is None else f"{value:,.0f}"


def throughput_table(results: list[Throughput]) -> str:
    rows = []
    for r in results:
        base = next(
            b for b in results if b.setup.backend == r.setup.backend and not b.setup.settled
        )
        staged = r.setup.settled is not None
        expected, base_rate = r.readings // EVERY, base.rate("posted") or 1.0
        assert r.cpu is not None
        rows.append(
            [
                r.setup.backend,
                r.setup.bus + (" (baseline)" if r is base else ""),
                r.setup.processes,
                f"{r.readings:,}",
                seconds(r.posted_s),
                f"{r.readings / r.posted_s:,.0f}",
                seconds(r.scored_s) if staged else "",
                seconds(r.done_s) if staged else "",
                *(rate(r, end) if staged else "" for end in ("scored", "done")),
                f"{((r.rate('done') if staged else r.rate('posted')) or 0) / base_rate:.2f}",
                f"{r.counted:,} / {expected:,}" if staged else "",
                r.cpu.describe(),
                f"{r.cpu.busy:.0%}",
                f"{r.cpu.other:.0%}",
            ]
        )
    headers = [
        "database",
        "bus",
        "processes",
        "readings",
        "POSTs done (s)",
        "ingest readings/s",
        "scored (s)",
        "alarms settled (s)",
        "POST→scored readings/s",
        "POST→alarms settled readings/s",
        "end to end ÷ ingest alone",
        "out-of-limit counted",
        "CPU (of one core)",
        "machine busy",
        "other load",
    ]
    return markdown_table(headers, rows)


def latency_table(results: list[Latency]) -> str:
    rows = []
    for r in results:
        assert r.cpu is not None
        rows.append(
            [
                r.setup.backend,
                r.setup.bus,
                r.setup.processes,
                f"{r.rate:,.0f}",
                f"{len(r.samples)} (+{r.missed} missed)" if r.missed else len(r.samples),
                f"{r.pct(50):.0f}",
                f"{r.pct(95):.0f}",
                f"{max(r.samples) * 1000:.0f}" if r.samples else "—",
                f"{r.poll_s * 1000:.1f}",
                r.cpu.describe(),
                f"{r.cpu.busy:.0%}",
                f"{r.cpu.other:.0%}",
            ]
        )
    headers = [
        "database",
        "bus",
        "processes",
        "readings/s sent",
        "samples",
        "p50 ms",
        "p95 ms",
        "max ms",
        "poll cycle ms",
        "CPU (of one core)",
        "machine busy",
        "other load",
    ]
    return markdown_table(headers, rows)


def verdicts(results: Results) -> list[str]:
    lines = []
    for r in results.throughput:
        if r.setup.settled is None:
            continue
        target = TARGETS[r.setup.bus]
        for end, what in (("done", "alarms settled (end to end)"), ("scored", "scored")):
            met = "met" if (r.rate(end) or 0) >= target else "NOT met"
            lines.append(
                f"{r.setup.backend} {r.setup.bus}: POST→{what} {rate(r, end)} readings/s — "
                f"target ≥ {target:,} {met}"
            )
        if r.counted != r.readings // EVERY:
            lines.append(
                f"{r.setup.backend} {r.setup.bus}: the alarms counted {r.counted:,} out-of-limit "
                f"readings of {r.readings // EVERY:,} sent"
            )
    for lat in results.latency:
        met = (
            "met" if lat.samples and not lat.missed and lat.pct(95) <= P95_TARGET_MS else "NOT met"
        )
        lines.append(
            f"{lat.setup.backend} {lat.setup.bus}: commit→alarm p95 {lat.pct(95):.0f} ms at "
            f"{lat.rate:,.0f} readings/s — target ≤ {P95_TARGET_MS:.0f} ms {met}"
        )
    return lines


def disturbed(results: Results) -> list[str]:
    runs = [*results.throughput, *results.latency]
    return [
        f"{r.setup.backend} {r.setup.bus} ({type(r).__name__.lower()}): {r.cpu.other:.0%}"
        for r in runs
        if r.cpu is not None and r.cpu.other > OTHER_LOAD_LIMIT
    ]
