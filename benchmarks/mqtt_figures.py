"""The figures of ``benchmarks.mqtt``: what one measurement found, and the report."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

from benchmarks.common import markdown_table
from benchmarks.meter import machine_cpu, process_cpu
from tests.fixtures.mosquitto import MosquittoServer

MESSAGES_TARGET = 20_000  # single-reading messages/s
READINGS_TARGET = 200_000  # readings/s in 100-reading messages
PER_MESSAGE = 100
OTHER_LOAD_LIMIT = 0.10  # of all cores: above it, something else ran during the measurement


@dataclass(frozen=True)
class Case:
    name: str
    protocol: str  # "5" or "3.1.1"; the load generator always publishes with 3.1.1
    per_message: int
    messages: int  # over all publishers
    publishers: int
    subscriber: str  # "connector", "bare" or "none"
    paho: bool = False  # publish with paho-mqtt instead of the load generator


@dataclass
class Published:
    """What one load generator reported: the broker acknowledged every message it counts."""

    published: int
    acknowledged: int
    seconds: float


@dataclass
class Cpu:
    """CPU seconds over a measurement; ``other``: busy time of the machine that no process
    of the benchmark accounts for, as a fraction of all cores."""

    this_process: float
    broker: float
    publishers: float
    other: float


@dataclass
class Result:
    case: Case
    seconds: float  # first publisher started → last message stored (or acknowledged by it)
    published: list[Published]
    cpu: Cpu
    received: int = 0  # messages delivered to the subscriber, redeliveries included
    # Most messages received and not yet acknowledged at once (sampled every POLL_S).
    peak_unacknowledged: int | None = None
    stored: dict[str, int] = field(default_factory=dict)  # sensor path → rows
    expected: dict[str, int] = field(default_factory=dict)  # sensor path → rows acknowledged

    @property
    def acknowledged(self) -> int:
        return sum(p.acknowledged for p in self.published)

    @property
    def ack_rate(self) -> float:
        """Messages/s as the publishers saw the broker acknowledge them, all together."""
        return self.acknowledged / max(p.seconds for p in self.published)

    @property
    def messages_per_s(self) -> float:
        return self.acknowledged / self.seconds

    @property
    def lost(self) -> int:
        return sum(max(0, n - self.stored.get(p, 0)) for p, n in self.expected.items())

    @property
    def extra(self) -> int:
        return sum(max(0, n - self.expected.get(p, 0)) for p, n in self.stored.items())


class Clock:
    """Wall time and CPU of this process, the broker and the publishers (children reaped
    since ``start``: only the publishers are, during a measurement), and the machine's."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.broker = broker

    def _sample(self) -> tuple[float, ...]:
        busy, _, elapsed = machine_cpu()
        return (
            time.perf_counter(),
            time.process_time(),
            process_cpu(self.broker.pid),
            _children_cpu(),
            busy,
            elapsed,
        )

    def start(self) -> None:
        self._start = self._sample()

    def elapsed(self) -> float:
        return time.perf_counter() - self._start[0]

    def stop(self) -> Cpu:
        _, cpu, broker, publishers, busy, elapsed = (
            b - a for a, b in zip(self._start, self._sample(), strict=True)
        )
        # Busy time none of ours accounts for: another program competed for the cores.
        other = max(0.0, busy - cpu - broker - publishers) / max(elapsed, 1e-9)
        return Cpu(cpu, broker, publishers, other)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the report ------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    headers = [
        "measured",
        "MQTT",
        "messages",
        "readings",
        "seconds",
        "messages/s",
        "readings/s",
        "acks/s at publishers",
        "CPU this process",
        "CPU broker",
        "CPU publishers",
        "other load",
        "peak unacknowledged",
    ]
    rows = []
    for r in results:
        readings = r.acknowledged * r.case.per_message
        rows.append(
            [
                r.case.name,
                r.case.protocol,
                f"{r.acknowledged:,}",
                f"{readings:,}",
                f"{r.seconds:.2f}",
                f"{r.messages_per_s:,.0f}",
                f"{readings / r.seconds:,.0f}",
                f"{r.ack_rate:,.0f}",
                f"{r.cpu.this_process / r.seconds:.0%}",
                f"{r.cpu.broker / r.seconds:.0%}",
                f"{r.cpu.publishers / r.seconds:.0%}",
                f"{r.cpu.other:.0%}",
                "-" if r.peak_unacknowledged is None else f"{r.peak_unacknowledged:,}",
            ]
        )
    return markdown_table(headers, rows)


def verdict(ok: bool) -> str:
    return "OK" if ok else "FAIL"


def report(results: list[Result]) -> bool:
    print(table(results))
    stored = [r for r in results if r.case.subscriber == "connector"]
    print("\nLoss at QoS 1, per sensor: rows stored vs readings of the messages acknowledged")
    for r in stored:
        extra_deliveries = r.received - r.acknowledged
        print(
            f"  {r.case.name}, MQTT {r.case.protocol}: acknowledged {sum(r.expected.values()):,} "
            f"readings (warm-up included), stored {sum(r.stored.values()):,}; lost {r.lost:,}, "
            f"extra {r.extra:,}; messages delivered again by the broker {extra_deliveries:,}"
        )
    single = next(r for r in stored if r.case.per_message == 1 and r.case.protocol == "5")
    many = next(r for r in stored if r.case.per_message > 1)
    checks = [
        (
            f"single-reading messages, MQTT 5: {single.messages_per_s:,.0f}/s — target "
            f"≥ {MESSAGES_TARGET:,}/s",
            single.messages_per_s >= MESSAGES_TARGET,
        ),
        (
            f"{PER_MESSAGE}-reading messages, MQTT {many.case.protocol}: "
            f"{many.messages_per_s * PER_MESSAGE:,.0f} readings/s — target ≥ "
            f"{READINGS_TARGET:,}/s",
            many.messages_per_s * PER_MESSAGE >= READINGS_TARGET,
        ),
        (
            f"lost at QoS 1: {sum(r.lost for r in stored):,}, extra "
            f"{sum(r.extra for r in stored):,} — target 0",
            all(r.lost == 0 and r.extra == 0 and r.expected for r in stored),
        ),
    ]
    noisy = [
        f"{r.case.name}, MQTT {r.case.protocol}: {r.cpu.other:.0%}"
        for r in results
        if r.cpu.other > OTHER_LOAD_LIMIT
    ]
    if noisy:
        print(f"\nWARNING: other processes used the CPU during: {'; '.join(noisy)}; rerun quiet")
    print()
    for text, ok in checks:
        print(f"{text}: {verdict(ok)}")
    return all(ok for _, ok in checks)
