"""Ingest throughput: readings/s through ``POST /api/v1/readings`` against the raw driver.

For each backend, in one run, into the same ``readings`` table (migrated, emptied before every
measurement so each starts alike), the same rows are written by:

* HTTP: the real ``shopfloor serve`` process, batches of 5,000 readings over keep-alive
  connections, row form (RFC 3339 strings) and columnar form (epoch seconds), 1..N connections.
  Request bodies are encoded before the clock starts; every answer is checked (202, all new).
* raw: the driver alone, one transaction per batch — stdlib sqlite3 ``executemany`` (WAL,
  synchronous=FULL like the product); asyncpg ``executemany`` and ``copy_records_to_table``.
  The fastest raw method is the baseline.
* store.write, no HTTP: the product's store in this process, on the prepared columns: the
  database side of an ingest (readings and rollups), to tell it from the API side.

Each measurement is repeated (interleaved, to spread drift) and the median is reported.
Run from the project root: ``python -m benchmarks.ingest [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field

from benchmarks.common import (
    BACKENDS,
    Database,
    Server,
    banner,
    create_sensors,
    database,
    markdown_table,
    serve,
)
from benchmarks.meter import Meter, Usage
from benchmarks.writers import (
    AsyncpgWriter,
    HttpWriter,
    SqliteWriter,
    StoreWriter,
    Workload,
    Writer,
    driver_rows,
    post_all,
    prefill,
    reset,
    rows_body,
    series_body,
    store_batch,
)

SQLITE_TARGET = 100_000
RATIO_TARGET = 0.5
OTHER_LOAD_LIMIT = 0.10  # of all cores: above it, something else ran during the measurement
FULL = {"readings": 300_000, "connections": "1,2,4", "repeat": 5}
QUICK = {"readings": 60_000, "connections": "1,2", "repeat": 1}
STORE = "store.write, no HTTP"
RAW_METHODS = {
    "sqlite": ("raw sqlite3 executemany",),
    "postgresql": ("raw asyncpg executemany", "raw asyncpg copy"),
}


@dataclass(frozen=True)
class Spec:
    method: str  # "HTTP rows", "HTTP series" or "raw …"
    connections: int | None = None

    @property
    def is_http(self) -> bool:
        return self.connections is not None


@dataclass
class Result:
    backend: str
    spec: Spec
    rows: int
    runs: list[Usage] = field(default_factory=list)
    retried: int = 0  # requests that failed with a 5xx and were sent again

    @property
    def median(self) -> Usage:
        seconds = statistics.median_low(run.seconds for run in self.runs)
        return next(run for run in self.runs if run.seconds == seconds)

    @property
    def rate(self) -> float:
        return self.rows / self.median.seconds

    @property
    def spread(self) -> str:
        rates = sorted(self.rows / run.seconds for run in self.runs)
        return f"{rates[0] / 1000:,.0f}-{rates[-1] / 1000:,.0f}k"


class Writers:
    """One writer per spec, its payload encoded once, before any clock starts; the measured
    rows are the same for every spec (the table is reset between measurements)."""

    def __init__(self, db: Database, server: Server, work: Workload) -> None:
        self.db, self.server, self.work = db, server, work
        self.chunks = work.chunks(1)
        self.writers: dict[Spec, Writer] = {}
        self.bodies: dict[str, list[bytes]] = {}

    def __getitem__(self, spec: Spec) -> Writer:
        if spec not in self.writers:
            self.writers[spec] = self._writer(spec)
        return self.writers[spec]

    def _writer(self, spec: Spec) -> Writer:
        db, work = self.db, self.work
        if spec.is_http:
            if spec.method not in self.bodies:
                encode = rows_body if spec.method == "HTTP rows" else series_body
                self.bodies[spec.method] = [encode(work.paths, c) for c in self.chunks]
            bodies = self.bodies[spec.method]
            return HttpWriter(self.server, bodies, work.batch, spec.connections or 1)
        if spec.method == STORE:
            return StoreWriter(db.sqlalchemy_url, [store_batch(work.ids, c) for c in self.chunks])
        postgres = db.backend == "postgresql"
        batches = [driver_rows(work.ids, chunk, postgres) for chunk in self.chunks]
        if not postgres:
            return SqliteWriter(str(db.sqlite_path), batches)
        return AsyncpgWriter(db.asyncpg_dsn, batches, copy=spec.method.endswith("copy"))


def warm_up(server: Server, work: Workload) -> None:
    """Not timed: fills the sensor cache and the pool, creates the month's partition."""
    chunks = work.chunks(0)
    post_all(server, [rows_body(work.paths, c) for c in chunks[:2]], work.batch)
    post_all(server, [series_body(work.paths, c) for c in chunks[2:4]], work.batch)


def bench_backend(backend: str, args: argparse.Namespace) -> list[Result]:
    specs = [Spec(method) for method in (*RAW_METHODS[backend], STORE)] + [
        Spec(f"HTTP {form}", conns) for form in ("rows", "series") for conns in args.connections
    ]
    with database(backend, "bench_ingest") as db, serve(db) as server:
        client = server.client()
        sensors = create_sensors(client, args.sensors)
        client.close()
        work = Workload(list(sensors), list(sensors.values()), args.batch, args.readings)
        warm_up(server, work)
        if args.prefill:
            prefill(db, work, args.prefill)
            print(f"  {backend:10} prefilled {args.prefill:,} rows", flush=True)
        results = {spec: Result(backend, spec, work.readings) for spec in specs}
        writers = Writers(db, server, work)
        for repeat in range(args.repeat):
            for spec in specs:
                writer = writers[spec]
                reset(db, prefilled=args.prefill > 0)
                with writer, Meter(server.pid if spec.is_http else None, db.server_pid) as meter:
                    retried = writer.run()
                results[spec].runs.append(meter.usage)
                results[spec].retried += retried
                conns = f"x{spec.connections}" if spec.is_http else ""
                print(
                    f"  {repeat + 1}/{args.repeat} {backend:10} {spec.method:24} {conns:3} "
                    f"{work.readings / meter.usage.seconds:>10,.0f} rows/s"
                    + (f"  ({retried} requests retried after a 5xx)" if retried else ""),
                    flush=True,
                )
        if errors := server.errors():
            listed = ", ".join(f"{name} x{count}" for name, count in errors.most_common())
            print(f"  {backend:10} the server logged errors: {listed}", flush=True)
        return list(results.values())


def baseline(results: list[Result], backend: str) -> Result:
    raw = [r for r in results if r.backend == backend and r.spec.method.startswith("raw ")]
    return max(raw, key=lambda r: r.rate)


def percent(fraction: float | None) -> str:
    return "" if fraction is None else f"{fraction:.0%}"


def detail_table(results: list[Result]) -> str:
    rows = []
    for r in results:
        base, usage = baseline(results, r.backend), r.median
        rows.append(
            [
                r.backend,
                r.spec.method + (" (baseline)" if r is base else ""),
                r.spec.connections or "",
                f"{r.rate:,.0f}",
                r.spread,
                f"{r.rate / base.rate:.2f}",
                *map(percent, (usage.client_cpu, usage.server_cpu, usage.database_cpu)),
                *map(percent, (usage.machine_busy, usage.iowait, usage.other)),
                r.retried if r.spec.is_http else "",
            ]
        )
    headers = [
        "backend",
        "path",
        "conns",
        "rows/s (median)",
        "all runs",
        "÷ raw",
        "client CPU",
        "server CPU",
        "PG CPU",
        "machine busy",
        "iowait",
        "other load",
        "5xx retried",
    ]
    return markdown_table(headers, rows)


def disturbed(results: list[Result]) -> list[str]:
    return [
        f"{r.backend} {r.spec.method} x{r.spec.connections or 1}: {r.median.other:.0%}"
        for r in results
        if r.median.other > OTHER_LOAD_LIMIT
    ]


def best_http(results: list[Result], backend: str, form: str) -> Result:
    matching = [r for r in results if r.backend == backend and r.spec.method == f"HTTP {form}"]
    return max(matching, key=lambda r: r.rate)


def summary(results: list[Result]) -> tuple[str, list[str]]:
    rows, verdicts = [], []
    for backend in dict.fromkeys(r.backend for r in results):
        base = baseline(results, backend)
        best = {form: best_http(results, backend, form) for form in ("rows", "series")}
        rows.append(
            [
                backend,
                *(f"{best[f].rate:,.0f} (x{best[f].spec.connections})" for f in best),
                f"{base.rate:,.0f} ({base.spec.method.removeprefix('raw ')})",
                *(f"{best[f].rate / base.rate:.2f}" for f in best),
            ]
        )
        for form, result in best.items():
            ratio = result.rate / base.rate
            met = "met" if ratio >= RATIO_TARGET else "NOT met"
            verdicts.append(f"{backend} {form}: HTTP/raw = {ratio:.3f} — target ≥ 0.5 {met}")
            if backend == "sqlite":
                met = "met" if result.rate >= SQLITE_TARGET else "NOT met"
                verdicts.append(
                    f"sqlite {form}: {result.rate:,.0f} readings/s — target ≥ 100,000 {met}"
                )
    headers = [
        "backend",
        "HTTP rows/s, row form",
        "HTTP rows/s, columnar",
        "raw rows/s (baseline)",
        "HTTP/raw, row form",
        "HTTP/raw, columnar",
    ]
    return markdown_table(headers, rows), verdicts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    add_arguments(parser)
    return finish_args(parser, parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help=f"defaults become {QUICK}")
    parser.add_argument("--readings", type=int, help=f"per measurement ({FULL['readings']:,})")
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--batch", type=int, default=5_000, help="readings per request")
    parser.add_argument("--connections", help=f"comma-separated ({FULL['connections']})")
    parser.add_argument("--repeat", type=int, help=f"runs per measurement ({FULL['repeat']})")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--prefill", type=int, default=0, help="readings already in the table (0)")


def finish_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    for name, default in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.connections = [int(c) for c in str(args.connections).split(",")]
    args.backends = [b for b in args.backends.split(",") if b]
    if args.batch % args.sensors or args.readings % args.batch or args.prefill % args.readings:
        parser.error(
            "--batch must be a multiple of --sensors, --readings of --batch, --prefill of "
            "--readings"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    banner("Ingest throughput")
    print(
        f"{args.readings:,} readings per measurement ({args.sensors} sensors, 1 Hz), "
        f"{args.batch:,} per request and per transaction, median of {args.repeat}, into a table "
        f"holding {args.prefill:,} readings before each; durable: "
        "SQLite WAL synchronous=FULL, PostgreSQL fsync=on. Client, server and PostgreSQL share "
        "the cores: their CPU is in % of one core; machine busy, iowait and other load (CPU "
        "used by anything else) in % of all cores.\n",
        flush=True,
    )
    results = [r for backend in args.backends for r in bench_backend(backend, args)]
    table, verdicts = summary(results)
    print(f"\n{detail_table(results)}\n\n{table}\n")
    print("\n".join(verdicts))
    if noisy := disturbed(results):
        print(f"\nWARNING: other processes used the CPU during: {'; '.join(noisy)}; rerun quiet")


if __name__ == "__main__":
    main()
