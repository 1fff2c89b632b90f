"""MQTT connector: messages/s and readings/s from publishers to stored rows, and loss at QoS 1.

Publishers in their own processes (``benchmarks.mqtt_publisher``, one topic each) publish QoS 1
messages to a real Mosquitto (``tests/fixtures/mosquitto.py``: persistence on, no cap on queued
or in-flight messages) as fast as it acknowledges them. The connector runs in this process with
its batcher over the real ingestor into a fresh SQLite database (WAL, synchronous=FULL, in a
temporary folder), wired as ``shopfloor serve`` wires it. Each measurement gets a fresh broker
and database; a warm-up of a few messages per topic first (the subscription is in place, the
sensors are registered, the caches are filled), then the clock runs from the start of the first
publisher until the last reading is stored (``ConnectorState.readings``, counted after each
commit, polled every 5 ms). Then the rows are counted per sensor in the database.

* single-reading messages (``{"ts", "value"}``): messages/s end to end; target ≥ 20,000 with
  MQTT 5 (the connector's default); 3.1.1 shown beside it.
* 100-reading messages (a list of 100 of those): readings/s end to end; target ≥ 200,000.
* loss: for every sensor, the rows stored must equal the readings of every message the broker
  acknowledged to its publisher (timestamps never repeat, so a redelivered message stores
  nothing twice); target 0 lost, 0 extra.

Baselines in the same run: the load generator alone (no subscriber), paho's own publisher alone,
and the broker to a bare subscriber — the connector's paho client and event-loop driver, which
acknowledges each message at once and stores nothing: the difference is what decoding, batching
and storing cost. CPU: this process (the connector: every thread, SQLite's writer included),
the broker and the publishers, each in % of one core over the measured window; other load is
busy time of the machine none of them accounts for (another program ran: rerun quiet). Peak
unacknowledged: the most messages the connector held received but not yet committed (the
batcher's backlog, sampled every 5 ms); the broker is not meant to send more than the receive
maximum (10,000) of them with MQTT 5.

Run from the project root: ``python -m benchmarks.mqtt [--quick] [--profile PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from benchmarks.common import ROOT, banner
from benchmarks.mqtt_figures import (
    PER_MESSAGE,
    Case,
    Clock,
    Published,
    Result,
    report,
)
from shopfloor.config import Settings
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.config import MqttSettings
from shopfloor.connectors.mqtt.connector import MqttConnector
from shopfloor.connectors.mqtt.paho_client import Client, LoopDriver
from shopfloor.observe.logging import configure_logging
from shopfloor.readings.service import build_ingestor
from shopfloor.storage import Database
from shopfloor.storage.migrate import upgrade
from tests.fixtures.mosquitto import MosquittoServer, mosquitto_server

FULL = {"messages": 300_000, "readings": 3_000_000, "paho": 20_000}
QUICK = {"messages": 60_000, "readings": 600_000, "paho": 10_000}
WARMUP_MESSAGES = 100  # per topic
WARMUP_TS = 1_767_225_600  # 2026-01-01T00:00:00Z
MEASURED_TS = WARMUP_TS + 1_000_000  # later than any warm-up reading: no collision
SETTLE_TIMEOUT_S = 300.0
POLL_S = 0.005
TOPIC = "shopfloor/v1/bench/line/m{index}/value"
SENSOR = "bench/line/m{index}/value"


# -- publishers ------------------------------------------------------------------------------


def start_publishers(
    port: int, count: int, publishers: int, per_message: int, first_ts: float, paho: bool = False
) -> list[subprocess.Popen[str]]:
    """``publishers`` load generators, topic m0, m1 …, ``count`` messages between them."""
    shares = [count // publishers + (i < count % publishers) for i in range(publishers)]
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.mqtt_publisher",
                str(port),
                TOPIC.format(index=index),
                str(share),
                str(per_message),
                str(first_ts),
                *(["--paho"] if paho else []),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, share in enumerate(shares)
    ]


def collect(processes: list[subprocess.Popen[str]]) -> list[Published]:
    """Wait for every publisher; raise with its error output if one failed."""
    out = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=SETTLE_TIMEOUT_S)
        words = stdout.split()
        if process.returncode != 0 or len(words) != 6:
            raise RuntimeError(f"a publisher failed ({process.returncode}): {stderr[-2000:]}")
        out.append(Published(int(words[1]), int(words[3]), float(words[5])))
    return out


@contextlib.contextmanager
def reaped(processes: list[subprocess.Popen[str]]) -> Iterator[None]:
    """A publisher still running when the measurement fails is killed by its PID."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


async def publish(
    broker: MosquittoServer,
    case: Case,
    first_ts: float,
    done: Callable[[], bool],
    watch: Callable[[], None] | None = None,
) -> tuple[list[Published], float]:
    """Run the publishers of ``case`` until they finish and ``done()``; the seconds from the
    first start until ``done()`` held (checked every POLL_S, ``watch`` called as often)."""
    started = time.perf_counter()
    processes = start_publishers(
        broker.port, case.messages, case.publishers, case.per_message, first_ts
    )
    with reaped(processes):
        deadline: float | None = None
        while not done():
            if watch is not None:
                watch()
            now = time.perf_counter()
            if deadline is None and all(p.poll() is not None for p in processes):
                deadline = now + SETTLE_TIMEOUT_S
            if deadline is not None and now > deadline:
                break  # not all arrived: the loss check says how many are missing
            await asyncio.sleep(POLL_S)
        elapsed = time.perf_counter() - started
        return await asyncio.to_thread(collect, processes), elapsed


def publishers_alone(broker: MosquittoServer, case: Case) -> Result:
    """No subscriber: how fast the load generator (or paho) gets its messages acknowledged."""
    clock = Clock(broker)
    clock.start()
    processes = start_publishers(
        broker.port,
        case.messages,
        case.publishers,
        case.per_message,
        MEASURED_TS,
        paho=case.paho,
    )
    with reaped(processes):
        published = collect(processes)
    elapsed = clock.elapsed()
    return Result(case, elapsed, published, clock.stop())


# -- subscribers -----------------------------------------------------------------------------


@dataclass
class Store:
    """A fresh, migrated SQLite database in a temporary folder."""

    data_dir: Path

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir / 'shopfloor.db'}"

    def rows_per_sensor(self) -> dict[str, int]:
        with contextlib.closing(sqlite3.connect(self.data_dir / "shopfloor.db")) as connection:
            rows = connection.execute(
                "SELECT s.path, count(*) FROM readings r JOIN sensors s ON s.id = r.sensor_id "
                "GROUP BY s.path"
            )
            return {path: count for path, count in rows}


@contextlib.contextmanager
def fresh_store() -> Iterator[Store]:
    data_dir = Path(tempfile.mkdtemp(prefix="shopfloor-bench-mqtt-"))
    try:
        store = Store(data_dir)
        upgrade(store.url)  # alembic runs its own event loop: before ours starts
        yield store
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def until(condition: Callable[[], bool], what: str, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {within_s:g} s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def connector_running(
    store: Store, broker: MosquittoServer, protocol: str
) -> AsyncIterator[tuple[MqttConnector, Batcher]]:
    """The connector and its batcher over the real ingestor, as the connector runner starts
    them (``shopfloor.connectors.runner``), with the default settings."""
    db = Database(store.url)
    await db.start()
    ingestor = build_ingestor(
        db, Settings(database_url=store.url, data_dir=store.data_dir, auto_register=True)
    )
    await ingestor.store.start(db)
    settings = MqttSettings(name="bench", url=broker.url(), protocol=protocol)
    connector = MqttConnector(settings)
    batcher = Batcher(
        ingestor,
        db,
        connector.state,
        max_readings=settings.batch_max_readings,
        max_wait_s=settings.batch_max_wait_ms / 1000,
    )
    tasks = [asyncio.create_task(batcher.run()), asyncio.create_task(connector.run(batcher))]
    try:
        await until(lambda: connector.state.connected, "connection to the broker")
        yield connector, batcher
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(batcher.drain(), 10)
        await db.dispose()


async def connector_run(
    store: Store, broker: MosquittoServer, case: Case, profile: cProfile.Profile | None
) -> Result:
    async with connector_running(store, broker, case.protocol) as (connector, batcher):
        state = connector.state
        peak = 0

        def watch() -> None:
            nonlocal peak
            peak = max(peak, batcher.backlog)

        # Warm-up, not timed: proves the subscription is in place (SUBACK) and registers the
        # sensors, so the measurement is of steady ingest.
        warm = Case(
            "warm-up",
            case.protocol,
            case.per_message,
            WARMUP_MESSAGES * case.publishers,
            case.publishers,
            "connector",
        )
        warm_readings = warm.messages * case.per_message
        warmed, _ = await publish(broker, warm, WARMUP_TS, lambda: state.readings >= warm_readings)
        if state.readings < warm_readings:
            raise TimeoutError(f"warm-up: {state.readings} of {warm_readings} readings stored")
        before_messages, before_readings = state.messages, state.readings
        target = before_readings + case.messages * case.per_message
        clock = Clock(broker)
        if profile is not None:
            profile.enable()
        clock.start()
        published, seconds = await publish(
            broker, case, MEASURED_TS, lambda: state.readings >= target, watch
        )
        cpu = clock.stop()
        if profile is not None:
            profile.disable()
        result = Result(case, seconds, published, cpu)
        result.received = state.messages - before_messages
        result.peak_unacknowledged = peak // case.per_message
        if state.errors or state.dead_letters:
            print(
                f"  connector errors {state.errors}, dead letters {state.dead_letters}: "
                f"{state.last_error}"
            )
    result.stored = store.rows_per_sensor()
    result.expected = {
        SENSOR.format(index=i): (w.acknowledged + p.acknowledged) * case.per_message
        for i, (w, p) in enumerate(zip(warmed, published, strict=True))
    }
    return result


async def bare_run(broker: MosquittoServer, case: Case) -> Result:
    """The connector's paho client and event-loop driver, acknowledging every message at
    once and storing nothing (MQTT 5: the connector's in-flight window; clean start)."""
    loop = asyncio.get_running_loop()
    protocol = mqtt.MQTTv5 if case.protocol == "5" else mqtt.MQTTv311
    client = Client("bench-bare-subscriber", protocol)
    connected: asyncio.Future[None] = loop.create_future()
    subscribed: asyncio.Future[None] = loop.create_future()
    received = 0

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1
        client.ack(message.mid, message.qos)

    client.on_connect = lambda *_: connected.done() or connected.set_result(None)
    client.on_subscribe = lambda *_: subscribed.done() or subscribed.set_result(None)
    client.on_message = on_message
    if protocol == mqtt.MQTTv5:
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = MqttSettings(name="x", url=broker.url()).receive_maximum
        client.connect("127.0.0.1", broker.port, 30, clean_start=True, properties=properties)
    else:
        client.connect("127.0.0.1", broker.port, 30)
    driver = LoopDriver(client, loop)
    timers = asyncio.create_task(driver.keep_alive(lambda: None))
    try:
        await asyncio.wait_for(connected, 15)
        client.subscribe("shopfloor/v1/#", qos=1)
        await asyncio.wait_for(subscribed, 15)
        clock = Clock(broker)
        clock.start()
        published, seconds = await publish(
            broker, case, MEASURED_TS, lambda: received >= case.messages
        )
        result = Result(case, seconds, published, clock.stop())
        result.received = received
        return result
    finally:
        timers.cancel()
        driver.detach()
        client.disconnect()
        client.socket() and client._sock_close()


def measure(case: Case, profile_path: str | None) -> Result:
    """``case`` against its own fresh broker (and database)."""
    with mosquitto_server() as broker:
        if case.subscriber == "none":
            return publishers_alone(broker, case)
        if case.subscriber == "bare":
            return asyncio.run(bare_run(broker, case))
        with fresh_store() as store:
            profile = cProfile.Profile() if profile_path else None
            result = asyncio.run(connector_run(store, broker, case, profile))
            if profile is not None and profile_path:
                path = f"{profile_path}-{case.protocol}-{case.per_message}.prof"
                profile.dump_stats(path)
                print(f"\n  cProfile of {case.name}, MQTT {case.protocol} → {path}")
                pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(20)
            return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mqtt", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="60k messages, 600k readings")
    parser.add_argument("--messages", type=int, help="single-reading messages per measurement")
    parser.add_argument("--readings", type=int, help=f"readings in {PER_MESSAGE}-reading messages")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--no-311", dest="v311", action="store_false", help="skip MQTT 3.1.1")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="cProfile the connector runs (this process's event loop): PATH-<MQTT>-<readings "
        "per message>.prof, top 20 printed; the figures then include the profiler's cost",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.messages = args.messages or sizes["messages"]
    args.readings = args.readings or sizes["readings"]
    args.paho = sizes["paho"]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Warnings (a lost connection, a batch retried) on stderr; not a line per connection.
    configure_logging("WARNING", json=False)
    banner("MQTT connector: publishers → Mosquitto → connector → SQLite")
    p = args.publishers
    print(
        f"{p} publisher processes (a topic each, QoS 1, as fast as the broker acknowledges); "
        f"{args.messages:,} single-reading messages, {args.readings:,} readings in "
        f"{PER_MESSAGE}-reading messages; SQLite WAL synchronous=FULL; connector defaults "
        "(receive maximum 10,000, batches ≤ 20,000 readings or 20 ms). CPU in % of one core; "
        "the publishers, the broker and this process share the machine's cores; other load: busy "
        "time of the machine none of them accounts for, in % of all cores.\n",
        flush=True,
    )
    many = args.readings // PER_MESSAGE
    cases = [
        Case("load generator alone, no subscriber", "3.1.1", 1, args.messages, p, "none"),
        Case("paho publisher alone, no subscriber", "3.1.1", 1, args.paho, 1, "none", paho=True),
        Case("bare subscriber, nothing stored", "5", 1, args.messages, p, "bare"),
        Case("connector, 1 reading/message", "5", 1, args.messages, p, "connector"),
    ]
    if args.v311:
        cases += [
            Case("bare subscriber, nothing stored", "3.1.1", 1, args.messages, p, "bare"),
            Case("connector, 1 reading/message", "3.1.1", 1, args.messages, p, "connector"),
        ]
    cases += [
        Case(f"connector, {PER_MESSAGE} readings/message", "5", PER_MESSAGE, many, p, "connector"),
    ]
    results = []
    for case in cases:
        result = measure(case, args.profile)
        print(
            f"  {case.name}, MQTT {case.protocol}: {result.seconds:.2f} s, "
            f"{result.messages_per_s:,.0f} messages/s",
            flush=True,
        )
        results.append(result)
    print()
    if args.profile:
        print("(profiled: the connector's figures include cProfile's own cost)\n")
    if not report(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
