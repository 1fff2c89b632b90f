"""OPC-UA connector: 1,000 nodes changing at 1 Hz, every value stored, and at what CPU.

An asyncua server in its own process (``tests/fixtures/opcua_server.py``) counts each node 1,
2, 3 … once a second, the writes spread over the second. The connector runs in this process
with a batcher and the real ingestor into a fresh SQLite database (WAL, synchronous=FULL, in a
temporary folder), subscribed at the default 1 s publishing interval. Measured over the window
from the first write to the last:

* loss: for every node, each number the server wrote must be a stored reading; target 0.
* CPU of this process (``time.process_time``: every thread — asyncua's decoding, the connector,
  the batcher, SQLite's writer), as % of one core; target ≤ 10 %.

Baselines in the same run, same process and server: the process idle (its event loop, nothing
subscribed), and a bare asyncua client subscribed to the same nodes that only counts the
notifications — what OPC-UA itself costs, before anything is stored. The server's CPU is shown
too: on a small machine it competes with the connector for the cores.

Run from the project root: ``python -m benchmarks.opcua [--seconds 60] [--nodes 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from asyncua import Client

from benchmarks.common import banner, database, markdown_table
from benchmarks.meter import process_cpu
from shopfloor.config import Settings
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.config import OpcUaSettings
from shopfloor.connectors.opcua import OpcUaConnector
from shopfloor.connectors.opcua.client import SESSION_TIMEOUT_MS
from shopfloor.connectors.opcua.logs import quiet_asyncua
from shopfloor.readings.service import build_ingestor
from shopfloor.storage import Database
from tests.fixtures.opcua_server import OpcUaServer, opcua_server

CPU_TARGET = 0.10
IDLE_S = 5.0
SETTLE_S = 60.0  # at most this long for the last values to be stored after the window


@dataclass
class Window:
    name: str
    seconds: float
    cpu_s: float
    server_cpu_s: float
    notifications: int

    @property
    def cpu(self) -> float:
        return self.cpu_s / self.seconds

    @property
    def server_cpu(self) -> float:
        return self.server_cpu_s / self.seconds


class Clock:
    """CPU of this process and of the server between ``start`` and ``stop``."""

    def __init__(self, server: OpcUaServer) -> None:
        self.server = server

    def start(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._server = process_cpu(self.server.pid)

    def stop(self, name: str, notifications: int) -> Window:
        return Window(
            name,
            time.perf_counter() - self._wall,
            time.process_time() - self._cpu,
            process_cpu(self.server.pid) - self._server,
            notifications,
        )


async def until(condition: Callable[[], bool], what: str, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {within_s:g} s")
        await asyncio.sleep(0.05)


async def count_for(server: OpcUaServer, seconds: float, hz: float) -> list[int]:
    """Let the server count for ``seconds``; the last number it wrote to each node."""
    server.command(op="run", hz=hz)
    await asyncio.sleep(seconds)
    # The server finishes its period before answering: off the event loop meanwhile.
    answer = await asyncio.to_thread(server.command, op="stop")
    return list(answer["counted"])


async def idle(server: OpcUaServer) -> Window:
    clock = Clock(server)
    clock.start()
    await asyncio.sleep(IDLE_S)
    return clock.stop("this process, idle", 0)


async def bare_subscription(server: OpcUaServer, seconds: float, hz: float) -> Window:
    """asyncua alone: the same nodes subscribed, notifications counted and dropped."""
    client = Client(server.endpoint, timeout=10)
    client.session_timeout = SESSION_TIMEOUT_MS  # as the connector asks
    await client.connect()
    try:
        subscription = await client.create_subscription(1000, None, queue_maxsize=0)
        nodes = [client.get_node(server.node_id(i)) for i in range(server.nodes)]
        for start in range(0, len(nodes), 1000):
            await subscription.subscribe_data_change(nodes[start : start + 1000])
        received = 0

        async def count() -> None:
            nonlocal received
            async for _ in subscription:
                received += 1

        counter = asyncio.create_task(count())
        await until(lambda: received >= server.nodes, "initial value of every node")
        clock = Clock(server)
        before = received
        clock.start()
        await count_for(server, seconds, hz)
        window = clock.stop("bare asyncua subscription, nothing stored", received - before)
        counter.cancel()
        return window
    finally:
        await client.disconnect()


def stored_values(path: str, above: int) -> dict[str, set[float]]:
    """The values above ``above`` stored for each sensor path."""
    found: dict[str, set[float]] = {}
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT s.path, r.value FROM readings r JOIN sensors s ON s.id = r.sensor_id "
            "WHERE r.value > ?",
            (above,),
        )
        for sensor, value in rows:
            found.setdefault(sensor, set()).add(value)
    return found


def node_path(index: int) -> str:
    return f"bench/opcua/m-{index // 10:03d}/s-{index:04d}"


async def connector_run(
    server: OpcUaServer, url: str, sqlite_path: str, seconds: float, hz: float
) -> tuple[Window, int, int]:
    """The connector storing into SQLite: its window, values written, values missing."""
    settings = OpcUaSettings(
        name="bench",
        endpoint=server.endpoint,
        nodes=[{"node_id": server.node_id(i), "path": node_path(i)} for i in range(server.nodes)],
    )
    db = Database(url)
    await db.start()
    ingestor = build_ingestor(db, Settings(database_url=url, auto_register=True))
    connector = OpcUaConnector(settings)
    batcher = Batcher(ingestor, db, connector.state)
    tasks = [asyncio.create_task(batcher.run()), asyncio.create_task(connector.run(batcher))]
    try:
        # Warm up: every node's current value stored, its sensor registered.
        await until(lambda: connector.state.readings >= server.nodes, "initial value stored")
        before = connector.state.messages
        start = asyncio.get_running_loop().time()
        clock = Clock(server)
        clock.start()
        first = server.command(op="counted")["counted"]
        last = await count_for(server, seconds, hz)
        window = clock.stop("connector + batcher + SQLite", connector.state.messages - before)
        wanted = {node_path(i): set(range(first[i] + 1, last[i] + 1)) for i in range(len(last))}
        written = sum(len(values) for values in wanted.values())
        deadline = start + seconds + SETTLE_S
        while True:
            found = stored_values(sqlite_path, min(first))
            missing = sum(len(want - found.get(path, set())) for path, want in wanted.items())
            if not missing or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
        if connector.state.errors:
            print(f"connector errors: {connector.state.errors}, last: {connector.state.last_error}")
        return window, written, missing
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await db.dispose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.opcua", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hz", type=float, default=1.0, help="changes per node per second")
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="15 s and 10 s windows")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.baseline_seconds = 15.0, 10.0
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    quiet_asyncua()
    banner("OPC-UA connector: subscription to stored readings")
    print(
        f"{args.nodes:,} nodes, each changing at {args.hz:g} Hz, for {args.seconds:g} s "
        f"(baseline {args.baseline_seconds:g} s); publishing interval 1 s; SQLite WAL "
        "synchronous=FULL. CPU in % of one core.\n",
        flush=True,
    )
    with database("sqlite", "opcua") as db, opcua_server(nodes=args.nodes) as server:

        async def measure() -> tuple[list[Window], int, int]:
            windows = [await idle(server)]
            windows.append(await bare_subscription(server, args.baseline_seconds, args.hz))
            run, written, missing = await connector_run(
                server, db.sqlalchemy_url, str(db.sqlite_path), args.seconds, args.hz
            )
            return [*windows, run], written, missing

        windows, written, missing = asyncio.run(measure())
    headers = ["measured", "seconds", "notifications/s", "CPU, this process", "CPU, server"]
    rows = [
        [
            w.name,
            f"{w.seconds:.1f}",
            f"{w.notifications / w.seconds:,.0f}",
            f"{w.cpu:.1%}",
            f"{w.server_cpu:.1%}",
        ]
        for w in windows
    ]
    print(markdown_table(headers, rows))
    run = windows[-1]
    print(f"\nvalues written by the server: {written:,}; stored: {written - missing:,}")
    print(f"loss: {missing:,} — target 0: {'OK' if missing == 0 else 'FAIL'}")
    verdict = "OK" if run.cpu <= CPU_TARGET else "FAIL"
    print(f"connector CPU: {run.cpu:.1%} of one core — target ≤ {CPU_TARGET:.0%}: {verdict}")


if __name__ == "__main__":
    main()
