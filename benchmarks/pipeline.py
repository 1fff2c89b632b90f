"""The pipeline: readings/s from POST to scored, and the latency from commit to alarm.

Per database, in one run (one migrated database, its sensors with limits 0..100):

* ingest alone (the baseline): ``shopfloor serve --no-pipeline`` on the memory bus, so the
  relay still publishes every batch but no stage consumes it;
* memory bus: one ``shopfloor serve`` that runs the stages in-process;
* Redis bus (PostgreSQL only): one ``serve --no-pipeline`` and ``--workers`` x ``shopfloor
  worker`` sharing the stages through consumer groups.

Throughput: ``--readings`` readings over 100 sensors at 1 Hz, columnar bodies of 5,000 encoded
before the clock starts, POSTed over ``--connections`` keep-alive connections, each connection
owning its own sensors (so each sensor's batches commit in time order). Every 10th reading of a
sensor is out of limits, the last of each batch among them. The clock runs from the first POST
until the alarm stage has settled every message derived from them (one per sensor and batch);
"scored" is when the detect stage has. Settled: on the memory bus the stages' counter
``shopfloor_pipeline_messages_total{outcome="processed"}`` at ``/metrics``; on Redis the
consumer groups' ``entries-read`` minus ``pending`` (XINFO GROUPS), both exact message counts,
polled every 10 ms once the last POST has answered. The alarms' summed count is then checked
against the number of out-of-limit readings sent.

Latency: a steady 10,000 readings/s (1,000 every 100 ms: 100 sensors x 10 readings, one
connection); every 0.5 s the last reading of one sensor (a different one each time) is out of
limits. Latency = when the alarms table shows that reading (``last_reading_us``, written with
the count) minus when the 202 of its POST arrived (its commit); the table is polled every 5 ms.

Run from the project root: ``python -m benchmarks.pipeline [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from dataclasses import dataclass

import numpy as np
import orjson

from benchmarks.common import (
    API,
    BACKENDS,
    Server,
    banner,
    create_sensors,
    database,
    serve,
    workers,
)
from benchmarks.pipeline_parts import (
    EVERY,
    Alarms,
    Cpu,
    Latency,
    Results,
    Settled,
    Setup,
    Throughput,
    disturbed,
    latency_table,
    seconds,
    throughput_table,
    verdicts,
)
from benchmarks.writers import BASE_S, US, HttpWriter
from tests.fixtures.servers import redis_server

LOW, HIGH, BREACH = 0.0, 100.0, 150.0  # limits, and the value of an out-of-limit reading
FULL = {"readings": 300_000, "latency_s": 50.0}
QUICK = {"readings": 60_000, "latency_s": 10.0}
SETTLE_TIMEOUT_S = 120.0
STEADY_BATCH, STEADY_EVERY_S, INJECT_EVERY = 1_000, 0.1, 5  # 10,000/s, a breach every 0.5 s
POLL_S = 0.005


@dataclass
class Plant:
    paths: list[str]
    ids: list[int]
    cursor: int = BASE_S  # the next unused second: every measurement gets later readings

    def take(self, seconds: int) -> int:
        start, self.cursor = self.cursor, self.cursor + seconds
        return start


def series(paths: list[str], seconds: list[int], values: np.ndarray) -> bytes:
    return orjson.dumps(
        {
            "series": [
                {"sensor": p, "ts": seconds, "values": v}
                for p, v in zip(paths, values.tolist(), strict=True)
            ]
        }
    )


def lanes(plant: Plant, readings: int, batch: int, conns: int) -> list[list[bytes]]:
    """Per connection, its sensors' bodies in time order; every EVERY-th reading breaches."""
    per_sensor = readings // len(plant.paths)
    start = plant.take(per_sensor)
    rng = np.random.default_rng(start)
    out = []
    for lane in range(conns):
        paths = plant.paths[lane::conns]
        steps = batch // len(paths)
        bodies = []
        for first in range(start, start + per_sensor, steps):
            values = np.round(rng.normal(50.0, 5.0, (len(paths), steps)), 3)
            values[:, EVERY - 1 :: EVERY] = BREACH
            bodies.append(series(paths, list(range(first, first + steps)), values))
        out.append(bodies)
    return out


def post_lanes(server: Server, bodies: list[list[bytes]], per_body: int) -> int:
    """Each lane on its own keep-alive connection, all at once; returns requests retried."""
    writers = [HttpWriter(server, lane, per_body, 1) for lane in bodies]
    errors: list[BaseException] = []
    retried: list[int] = []

    def run(writer: HttpWriter) -> None:
        try:
            retried.append(writer.run())
        except BaseException as exc:
            errors.append(exc)

    with contextlib.ExitStack() as stack:
        for writer in writers:
            stack.enter_context(writer)
        threads = [threading.Thread(target=run, args=(w,)) for w in writers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return sum(retried)


def throughput(setup: Setup, plant: Plant, readings: int, args: argparse.Namespace) -> Throughput:
    bodies = lanes(plant, readings, args.batch, args.connections)
    messages = sum(len(lane) for lane in bodies) * len(plant.paths) // args.connections
    settled, alarms = setup.settled, setup.alarms
    before = settled.counts() if settled else {}
    counted_before = alarms.total() if alarms else 0
    with Cpu(setup.cpu_pids, setup.cpu_families) as cpu:
        started = time.perf_counter()
        retried = post_lanes(setup.server, bodies, args.batch)
        result = Throughput(setup, readings, time.perf_counter() - started, retried=retried)
        while settled is not None and result.done_s is None:
            counts, elapsed = settled.counts(), time.perf_counter() - started
            done = {s: counts.get(s, 0) - before.get(s, 0) >= messages for s in ("detect", "alarm")}
            if done["detect"] and result.scored_s is None:
                result.scored_s = elapsed
            if done["alarm"]:
                result.done_s = elapsed
            elif elapsed > SETTLE_TIMEOUT_S:
                print(f"  not settled after {SETTLE_TIMEOUT_S:.0f} s: {counts} (+{messages})")
                break
            else:
                time.sleep(0.01)
    result.cpu = cpu
    if alarms:
        result.counted = alarms.total() - counted_before
    return result


def latency(setup: Setup, plant: Plant, seconds: float) -> Latency:
    assert setup.alarms is not None
    alarms, paths, ids = setup.alarms, plant.paths, plant.ids
    per_sensor = STEADY_BATCH // len(paths)
    batches = int(seconds / STEADY_EVERY_S)
    start = plant.take(batches * per_sensor)
    rng = np.random.default_rng(start)
    bodies, injected = [], {}
    for k in range(batches):
        stamps = list(range(start + k * per_sensor, start + (k + 1) * per_sensor))
        values = np.round(rng.normal(50.0, 5.0, (len(paths), per_sensor)), 3)
        if k % INJECT_EVERY == INJECT_EVERY - 1:
            j = (k // INJECT_EVERY) % len(paths)
            values[j, -1] = BREACH
            injected[k] = (ids[j], stamps[-1] * US)
        bodies.append(series(paths, stamps, values))
    waiting: dict[int, tuple[int, float]] = {}  # sensor → (reading µs, 202 at)
    lock, failures, posted = threading.Lock(), [], [0.0]

    def post() -> None:
        client = setup.server.client()
        first = time.perf_counter()
        for k, body in enumerate(bodies):
            time.sleep(max(0.0, first + k * STEADY_EVERY_S - time.perf_counter()))
            status, answer = client.request("POST", f"{API}/readings", body)
            answered = time.perf_counter()
            if status != 202:
                failures.append(f"{status}: {answer[:300]!r}")
                break
            if k in injected:
                with lock:
                    waiting[injected[k][0]] = (injected[k][1], answered)
        posted[0] = time.perf_counter() - first
        client.close()

    result = Latency(setup, 0.0)
    polls = 0
    with Cpu(setup.cpu_pids, setup.cpu_families) as cpu:
        poster = threading.Thread(target=post)
        poster.start()
        began = time.perf_counter()
        deadline = None
        while True:
            seen = alarms.read()
            now = time.perf_counter()
            polls += 1
            with lock:
                for sensor, (reading_us, answered) in list(waiting.items()):
                    if seen.get(sensor, (0, -1))[1] >= reading_us:
                        result.samples.append(max(0.0, now - answered))
                        del waiting[sensor]
                if not poster.is_alive():
                    deadline = deadline or now + 5.0
                    if not waiting or now > deadline:
                        break
            time.sleep(POLL_S)
        poll_total = time.perf_counter() - began
    poster.join()
    if failures:
        raise RuntimeError(f"steady ingest failed: {failures[0]}")
    result.missed = len(injected) - len(result.samples)
    result.rate = batches * STEADY_BATCH / max(posted[0], batches * STEADY_EVERY_S)
    result.poll_s = poll_total / polls
    result.cpu = cpu
    return result


def measure(setup: Setup, plant: Plant, args: argparse.Namespace, out: Results) -> None:
    """Warm up (not timed: caches, pools, consumer groups; the stages have run once), then the
    throughput, then, where stages run, the latency."""
    label = f"{setup.backend} {setup.bus}"
    throughput(setup, plant, args.batch * args.connections, args)
    result = throughput(setup, plant, args.readings, args)
    out.throughput.append(result)
    print(
        f"  {label:32} POSTs {result.posted_s:.2f} s, scored {seconds(result.scored_s)} s, "
        f"alarms settled {seconds(result.done_s)} s",
        flush=True,
    )
    if setup.settled is not None:
        lat = latency(setup, plant, args.latency_s)
        out.latency.append(lat)
        print(f"  {label:32} commit→alarm p50 {lat.pct(50):.0f} ms, p95 {lat.pct(95):.0f} ms")
    if errors := setup.server.errors():
        print(f"  {label}: the server logged {dict(errors)}", flush=True)


def bench_backend(backend: str, args: argparse.Namespace, out: Results) -> None:
    with database(backend, "bench_pipeline") as db:
        families = {"pg": db.server_pid} if db.server_pid else {}
        with serve(db) as server:
            client = server.client()
            limits = {"low_limit": LOW, "high_limit": HIGH}
            made = create_sensors(client, args.sensors, fields=limits)
            client.close()
            plant = Plant(list(made), list(made.values()))
            base = Setup(
                backend,
                "memory (ingest alone)",
                "serve --no-pipeline",
                server,
                {"server": server.pid},
                families,
            )
            measure(base, plant, args, out)
        with serve(db, pipeline=True) as server:
            setup = Setup(
                backend,
                "memory",
                "serve",
                server,
                {"server": server.pid},
                families,
                Settled(server, None),
                Alarms(db),
            )
            try:
                measure(setup, plant, args, out)
            finally:
                setup.close()
        if backend != "postgresql" or not args.workers:
            return
        with redis_server() as redis:
            env = {"SHOPFLOOR_BUS_URL": redis.url}
            with serve(db, env=env) as server, workers(db, args.workers, env) as pids:
                procs = {"server": server.pid, **{f"worker-{i}": p for i, p in enumerate(pids)}}
                setup = Setup(
                    backend,
                    "redis",
                    f"serve --no-pipeline + {args.workers} workers",
                    server,
                    {**procs, "redis": redis.pid},
                    families,
                    Settled(server, redis.url),
                    Alarms(db),
                )
                try:
                    measure(setup, plant, args, out)
                finally:
                    setup.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"defaults become {QUICK}")
    parser.add_argument("--readings", type=int, help=f"per measurement ({FULL['readings']:,})")
    parser.add_argument("--latency-s", type=float, help=f"steady load ({FULL['latency_s']:.0f})")
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--batch", type=int, default=5_000, help="readings per request")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="on Redis; 0: no Redis run")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args(argv)
    for name, default in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.backends = [b for b in args.backends.split(",") if b]
    per_lane = args.sensors // args.connections
    steps = args.batch // max(per_lane, 1)
    if (
        args.sensors % args.connections
        or args.batch % per_lane
        or steps % EVERY
        or args.readings % (args.sensors * steps)
        or STEADY_BATCH % args.sensors
    ):
        parser.error(
            "--sensors must divide among --connections, --batch among a connection's sensors "
            "in a multiple of 10 readings each, --readings into whole batches; 1,000 "
            "readings among --sensors"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    banner("Pipeline: POST to scored, commit to alarm")
    print(
        f"Throughput: {args.readings:,} readings ({args.sensors} sensors, 1 Hz, 10% out of "
        f"limits), columnar bodies of {args.batch:,} over {args.connections} keep-alive "
        "connections, from the first POST until the alarm stage settled every message (scored: "
        "the detect stage). Latency: a steady 10,000 readings/s for "
        f"{args.latency_s:.0f} s, one out-of-limit reading every 0.5 s, 202 → alarm row "
        f"(polled every {POLL_S * 1000:.0f} ms). Durable: SQLite WAL synchronous=FULL, "
        "PostgreSQL fsync=on. CPU of each process in % of one core; machine busy and other "
        "load (CPU used by anything else) in % of all cores.\n",
        flush=True,
    )
    results = Results()
    for backend in args.backends:
        bench_backend(backend, args, results)
    print(f"\n{throughput_table(results.throughput)}\n")
    if results.latency:
        print(f"{latency_table(results.latency)}\n")
    print("\n".join(verdicts(results)))
    if noisy := disturbed(results):
        print(f"\nWARNING: other processes used the CPU during: {'; '.join(noisy)}; rerun quiet")


if __name__ == "__main__":
    main()
