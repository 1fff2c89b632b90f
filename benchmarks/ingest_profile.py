"""Where the time goes in ``POST /api/v1/readings`` on SQLite: two views of the same workload.

* ``server`` (needs py-spy in the environment: ``pip install py-spy``): the real
  ``shopfloor serve`` process sampled by py-spy while ``benchmarks.ingest``'s workload is
  posted. Prints, per thread (the event loop and aiosqlite's SQLite worker), how busy it was
  and in which functions.
* ``inprocess``: the app's own ``ingestor.ingest`` called directly on prepared columns, after
  ``load_json`` and ``flatten``, with wall time per stage and a cProfile of the event-loop
  thread (the SQLite worker thread shows there as the wait for its answer).

Run from the project root: ``python -m benchmarks.ingest_profile [--view server|inprocess]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import (
    Database,
    banner,
    create_sensors,
    database,
    markdown_table,
    serve,
)
from benchmarks.writers import Workload, post_all, reset, rows_body, series_body
from shopfloor.app import create_app
from shopfloor.config import Settings
from shopfloor.plant import service as plant_service
from shopfloor.plant.schemas import AssetCreate, SensorCreate
from shopfloor.readings.api import load_json
from shopfloor.readings.columns import flatten
from shopfloor.readings.service import Ingestor

ENCODERS = {"rows": rows_body, "series": series_body}
RATE_HZ = 500
SQLITE_THREAD = "_connection_worker_thread"
OWN_CODE, CLI = "shopfloor/", "shopfloor/cli/"
STAGES = ("load_json", "flatten", "ingestor.ingest")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def spy_on(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample every thread without pausing the server; threads that wait (for work, for the
    GIL, in fsync) are not sampled, so samples / (rate x seconds) is the thread's CPU share."""
    command = [py_spy() or "py-spy", "record", "--pid", str(pid), "--rate", str(RATE_HZ)]
    command += ["--threads", "--function", "--format", "raw", "--nonblocking"]
    spy = subprocess.Popen(
        [*command, "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    time.sleep(1.0)  # attached; idle threads are not sampled, so the wait costs nothing
    return spy


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stacks.append((stack.split(";"), int(count)))
    return stacks


def frame_name(frame: str) -> str:
    """``Ingestor.ingest (shopfloor/readings/service.py:58)`` -> ``Ingestor.ingest (service.py)``"""
    function, _, where = frame.partition(" (")
    return f"{function} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1]})"


def thread_report(stacks: list[tuple[list[str], int]], seconds: float, top: int) -> str:
    """Busy share per thread, then its top functions by own (leaf) and by inclusive samples."""
    by_thread: dict[str, list[tuple[list[str], int]]] = {}
    for frames, count in stacks:
        role = "SQLite worker" if SQLITE_THREAD in frames[0] else frames[0].split(": ", 1)[-1]
        by_thread.setdefault(role, []).append((frames[1:], count))
    out = []
    for role, samples in sorted(by_thread.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        total = sum(count for _, count in samples)
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        for frames, count in samples:
            own[frame_name(frames[-1]) if frames else "(native)"] += count
            for name in {frame_name(f) for f in frames if OWN_CODE in f and CLI not in f}:
                inclusive[name] += count
        busy = total / (RATE_HZ * seconds)
        out.append(f"\n{role}: on CPU {busy:.0%} of the wall time ({total} samples)\n")
        rows = [[name, f"{n / total:.0%}"] for name, n in own.most_common(top)]
        out.append(markdown_table(["own time in", "share of its CPU"], rows))
        rows = [[name, f"{n / total:.0%}"] for name, n in inclusive.most_common(top)]
        if rows:
            out.append("\n" + markdown_table(["shopfloor function, with callees", "share"], rows))
    return "\n".join(out)


def server_view(args: argparse.Namespace) -> None:
    if py_spy() is None:
        print("py-spy is not installed here (pip install py-spy): use --view inprocess")
        return
    with database("sqlite", "bench_profile") as db, serve(db) as server:
        client = server.client()
        sensors = create_sensors(client, args.sensors)
        client.close()
        work = Workload(list(sensors), list(sensors.values()), args.batch, args.readings)
        post_all(server, [rows_body(work.paths, c) for c in work.chunks(0)], args.batch, 1)
        for form in args.forms:
            bodies = [ENCODERS[form](work.paths, chunk) for chunk in work.chunks(1)]
            reset(db, prefilled=False)
            output = db.data_dir / f"spy-{form}.txt"
            spy = spy_on(server.pid, output)
            started = time.perf_counter()
            post_all(server, bodies, args.batch, args.connections)
            seconds = time.perf_counter() - started
            spy.send_signal(signal.SIGINT)
            if spy.wait(timeout=60) != 0 and not output.exists():
                raise RuntimeError(f"py-spy failed: {spy.stderr.read().decode()[-500:]}")
            print(
                f"\n## {form} form, x{args.connections} connection(s): "
                f"{args.readings / seconds:,.0f} readings/s under py-spy ({seconds:.2f} s)"
            )
            print(thread_report(read_stacks(output), seconds, args.top))


async def _sensors(app: object, count: int) -> dict[str, int]:
    ids = {}
    async with app.state.db.write() as session:  # type: ignore[attr-defined]
        await plant_service.create_asset(session, AssetCreate(path="bench", kind="site"))
        for index in range(count):
            machine_path = f"bench/m-{index // 10:03d}"
            if index % 10 == 0:
                asset = AssetCreate(path=machine_path, kind="machine")
                await plant_service.create_asset(session, asset)
            path = f"{machine_path}/s-{index:04d}"
            sensor = await plant_service.create_sensor(session, SensorCreate(path=path))
            ids[path] = sensor.id
    return ids


async def _timed_pass(ingestor: Ingestor, bodies: list[bytes]) -> dict[str, list[float]]:
    """Per stage: [wall seconds, event-loop thread CPU seconds], summed over the bodies."""
    stages: dict[str, list[float]] = {name: [0.0, 0.0] for name in STAGES}
    for body in bodies:
        marks = [(time.perf_counter(), time.thread_time())]
        document = load_json(body)
        marks.append((time.perf_counter(), time.thread_time()))
        columns = flatten(document)
        marks.append((time.perf_counter(), time.thread_time()))
        await ingestor.ingest(columns)
        marks.append((time.perf_counter(), time.thread_time()))
        for name, before, after in zip(STAGES, marks, marks[1:], strict=False):
            stages[name][0] += after[0] - before[0]
            stages[name][1] += after[1] - before[1]
    return stages


async def _profiled_pass(ingestor: Ingestor, bodies: list[bytes], top: int) -> str:
    profiler = cProfile.Profile()
    for body in bodies:
        profiler.enable()
        await ingestor.ingest(flatten(load_json(body)))
        profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue().split("\n\n", 1)[-1].rstrip()


def stage_table(stages: dict[str, list[float]], batches: int, batch: int) -> str:
    total = sum(wall for wall, _ in stages.values())
    rows = [
        [
            name,
            f"{wall / batches * 1000:.1f}",
            f"{cpu / batches * 1000:.1f}",
            f"{max(wall - cpu, 0) / batches * 1000:.1f}",
            f"{wall / total:.0%}",
        ]
        for name, (wall, cpu) in stages.items()
    ]
    headers = [
        "stage",
        f"wall ms per {batch:,}",
        "event-loop CPU ms",
        "waiting ms (SQLite thread, GIL)",
        "share of wall",
    ]
    return markdown_table(headers, rows)


async def _inprocess(db: Database, args: argparse.Namespace) -> None:
    """Each pass starts from an empty readings table, as in the ingest benchmark."""
    app = create_app(Settings(data_dir=db.data_dir, log_level="WARNING"))
    async with app.router.lifespan_context(app):
        ingestor = app.state.ingestor
        sensors = await _sensors(app, args.sensors)
        work = Workload(list(sensors), list(sensors.values()), args.batch, args.readings)
        windows = iter(range(1, 1_000))
        for form in args.forms:
            encode = ENCODERS[form]
            bodies = [encode(work.paths, chunk) for chunk in work.chunks(next(windows))]
            reset(db, prefilled=False)
            stages = await _timed_pass(ingestor, bodies)
            total = sum(wall for wall, _ in stages.values())
            print(f"\n## {form} form: {args.readings / total:,.0f} readings/s in-process\n")
            print(stage_table(stages, len(bodies), args.batch))
            bodies = [encode(work.paths, chunk) for chunk in work.chunks(next(windows))]
            reset(db, prefilled=False)
            print("\ncProfile of the event-loop thread (another window), by own time:\n")
            print(await _profiled_pass(ingestor, bodies, args.top))


def inprocess_view(args: argparse.Namespace) -> None:
    with database("sqlite", "bench_profile") as db:
        asyncio.run(_inprocess(db, args))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest_profile", description=__doc__
    )
    parser.add_argument("--view", choices=("server", "inprocess", "both"), default="both")
    parser.add_argument("--forms", default="rows,series")
    parser.add_argument("--readings", type=int, default=300_000)
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--connections", type=int, default=1, help="server view only")
    parser.add_argument("--top", type=int, default=15, help="functions listed per table")
    args = parser.parse_args(argv)
    args.forms = args.forms.split(",")
    banner("Ingest profile (SQLite)")
    if args.view in ("server", "both"):
        print("# Real server under py-spy")
        server_view(args)
    if args.view in ("inprocess", "both"):
        print("\n# In-process: ingestor.ingest on prepared columns")
        inprocess_view(args)


if __name__ == "__main__":
    main()
