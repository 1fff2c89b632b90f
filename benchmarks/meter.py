"""CPU accounting from /proc: the client (this process), the server, the database, the rest.

On a 2-core machine the client, the API server and PostgreSQL compete for the same cores, and
anything else running at the same time skews a figure: ``other`` shows how much did.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def _stat(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat after the command name: [0] is the state, [1] the parent."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """User + system seconds of one process, all its threads."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def family_cpu(parent: int) -> float:
    """User + system seconds of ``parent``, its live children, and the children it has reaped
    (PostgreSQL: the postmaster, its backends and workers, and backends that have exited)."""
    fields = _stat(parent)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except OSError:  # it exited while we looked
            continue
        if int(fields[1]) == parent:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def machine_cpu() -> tuple[float, float, float]:
    """(busy, iowait, elapsed) core-seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy / CLOCK_TICKS, iowait / CLOCK_TICKS, (busy + idle + iowait) / CLOCK_TICKS


@dataclass
class Usage:
    """CPU during one measurement. Per-process figures are fractions of one core; machine-wide
    ones (busy, iowait, other) fractions of all cores."""

    seconds: float
    client_cpu: float
    server_cpu: float | None
    database_cpu: float | None
    machine_busy: float
    iowait: float
    other: float  # busy time no process of the benchmark accounts for


class Meter:
    """``with Meter(server_pid, database_parent) as meter: ...`` then ``meter.usage``."""

    def __init__(self, server_pid: int | None = None, database_parent: int | None = None) -> None:
        self.server_pid = server_pid
        self.database_parent = database_parent

    def _sample(self) -> tuple[float, ...]:
        server = process_cpu(self.server_pid) if self.server_pid else 0.0
        database = family_cpu(self.database_parent) if self.database_parent else 0.0
        return (time.perf_counter(), time.process_time(), server, database, *machine_cpu())

    def __enter__(self) -> Meter:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, client, server, database, busy, iowait, elapsed = (
            b - a for a, b in zip(self._start, self._sample(), strict=True)
        )
        elapsed = max(elapsed, 1e-9)
        other = max(0.0, busy - client - server - database)
        self.usage = Usage(
            seconds=wall,
            client_cpu=client / wall,
            server_cpu=server / wall if self.server_pid else None,
            database_cpu=database / wall if self.database_parent else None,
            machine_busy=busy / elapsed,
            iowait=iowait / elapsed,
            other=other / elapsed,
        )
