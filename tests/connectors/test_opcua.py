"""The OPC-UA connector against a real asyncua server process and the real ingest path.

Every test runs on SQLite and PostgreSQL: a ``Batcher`` over the real ingestor (sensors
registered on first sight), the connector's ``run`` as a task, and a server in its own process
changed on command (``tests/fixtures/opcua_server.py``). Nothing waits a fixed time: each step
polls for its condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY

from shopfloor.connectors.base import REJECTED, UNREADABLE
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.config import OpcUaSettings
from shopfloor.connectors.deadletters import list_dead_letters
from shopfloor.connectors.opcua import OpcUaConnector, subscription
from shopfloor.plant import repository
from shopfloor.readings.service import Ingestor
from shopfloor.storage import Database
from tests.connectors.helpers import connector_running, eventually
from tests.fixtures.opcua_server import OpcUaServer, opcua_server

T = TypeVar("T")
PATH = "acme/stamping/press-{}/value"


@pytest.fixture
def server() -> Iterator[OpcUaServer]:
    with opcua_server(nodes=4, types=("Double", "Double", "Boolean", "Int32")) as running:
        yield running


def settings_for(server: OpcUaServer, nodes: int = 4, **options: Any) -> OpcUaSettings:
    return OpcUaSettings(
        name="press-line",
        endpoint=server.endpoint,
        timeout_s=2.0,
        reconnect_max_s=1.0,
        publishing_interval_ms=50,
        nodes=[{"node_id": server.node_id(i), "path": PATH.format(i)} for i in range(nodes)],
        **options,
    )


@dataclass
class Harness:
    db: Database
    ingestor: Ingestor
    batcher: Batcher
    connector: OpcUaConnector
    task: asyncio.Task[None]

    async def readings(self, node: int) -> list[tuple[int, float]]:
        path = PATH.format(node)
        async with self.db.read() as session:
            ids = await repository.sensor_ids_by_path(session, [path])
            if path not in ids:
                return []
            return await self.ingestor.store.range(session, ids[path], 0, 2**62, 10_000)

    async def values(self, node: int) -> list[float]:
        return [value for _, value in await self.readings(node)]

    async def stored(self, node: int, value: float) -> list[float]:
        """Wait until ``value`` is stored for ``node``; return the node's values."""
        found: list[float] = []

        async def check() -> bool:
            found[:] = await self.values(node)
            return value in found

        try:
            await eventually(check, f"{value} stored for node {node}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the node holds {found}") from None
        return found

    async def connected(self, expected: bool = True, within_s: float = 10.0) -> None:
        async def check() -> bool:
            return self.connector.state.connected is expected

        await eventually(check, f"connected={expected}", within_s)


@contextlib.asynccontextmanager
async def running(
    database_url: str, tmp_path: Path, settings: OpcUaSettings
) -> AsyncIterator[Harness]:
    connector = OpcUaConnector(settings)
    async with connector_running(database_url, tmp_path, connector) as live:
        yield Harness(live.db, live.ingestor, live.batcher, connector, live.task)


def asyncua_tasks() -> list[asyncio.Task[Any]]:
    """The running tasks asyncua started (publish loop, supervisor, watchdogs …)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and f"{os.sep}asyncua{os.sep}" in code.co_filename:
            found.append(task)
    return found


def rejected_bad_status() -> float:
    sample = REGISTRY.get_sample_value(
        "shopfloor_readings_rejected_total", {"reason": "bad_status"}
    )
    return sample or 0.0


async def test_changed_values_arrive_with_their_source_time(database_url, tmp_path, server):
    async with running(database_url, tmp_path, settings_for(server)) as harness:
        await harness.connected()
        first = server.set(1, 21.5)
        second = server.set(1, 22.25)
        server.set(2, True, type="Boolean")
        server.set(3, 7, type="Int32")
        no_source = server.set(0, 3.5, source_ts_us=None)

        assert await harness.stored(1, 22.25) == [0.0, 21.5, 22.25]
        assert await harness.stored(2, 1.0) == [0.0, 1.0]
        assert await harness.stored(3, 7.0) == [0.0, 7.0]
        await harness.stored(0, 3.5)
        readings = await harness.readings(1)
        assert [ts for ts, _ in readings[1:]] == [first["source_ts_us"], second["source_ts_us"]]
        # Without a source timestamp the server's stands in.
        assert (await harness.readings(0))[-1] == (no_source["server_ts_us"], 3.5)
        state = harness.connector.state
        assert state.details["mode"] == "subscribe"
        assert state.details["nodes_subscribed"] == 4
        assert state.readings == 9  # four initial values, five changes
        assert state.errors == 0


async def test_changes_inside_the_deadband_are_not_stored(database_url, tmp_path, server):
    settings = settings_for(server, deadband=0.0)
    settings.nodes[0].deadband = 0.5  # the node's own deadband overrides the connector's
    async with running(database_url, tmp_path, settings) as harness:
        await harness.connected()
        for value in (10.0, 10.2, 10.4, 11.0, 11.3, 20.0):
            server.set(0, value)
        for value in (10.0, 10.2):
            server.set(1, value)

        assert await harness.stored(0, 20.0) == [0.0, 10.0, 11.0, 20.0]
        assert await harness.stored(1, 10.2) == [0.0, 10.0, 10.2]


async def test_a_bad_status_is_rejected_and_an_uncertain_one_stored(database_url, tmp_path, server):
    before = rejected_bad_status()
    async with running(database_url, tmp_path, settings_for(server)) as harness:
        await harness.connected()
        server.set(0, 5.0)
        server.set(0, 6.0, status="BadSensorFailure")
        server.set(0, 7.0, status="UncertainLastUsableValue")

        assert await harness.stored(0, 7.0) == [0.0, 5.0, 7.0]
        state = harness.connector.state
        assert state.rejected == 1
        assert rejected_bad_status() - before == 1

        async def letters() -> list[Any]:
            return await list_dead_letters(harness.db, topic=server.node_id(0))

        (letter,) = await eventually(letters, "the rejected value in the dead letters")
        assert (letter.kind, letter.reason) == (REJECTED, "bad status BadSensorFailure")
        assert b'"status":"BadSensorFailure"' in letter.payload


async def test_a_value_that_is_not_a_number_goes_to_the_dead_letters(database_url, tmp_path):
    with opcua_server(nodes=2, types=("Double", "String")) as server:
        async with running(database_url, tmp_path, settings_for(server, nodes=2)) as harness:
            await harness.connected()
            server.set(1, "jammed", type="String")
            server.set(0, 4.5)

            await harness.stored(0, 4.5)

            async def letters() -> list[Any]:
                found = await list_dead_letters(harness.db, topic=server.node_id(1))
                return found if len(found) == 2 else []

            # The value it had when subscribed, then the new one.
            first, second = await eventually(letters, "both strings in the dead letters")
            reason = f"value of node {server.node_id(1)} is a String, not a number"
            assert [(x.kind, x.reason) for x in (first, second)] == [(UNREADABLE, reason)] * 2
            assert b'"value":"jammed"' in second.payload
            assert await harness.values(1) == []


async def test_after_a_server_restart_the_subscription_resumes(database_url, tmp_path, server):
    async with running(database_url, tmp_path, settings_for(server)) as harness:
        await harness.connected()
        server.set(1, 1.5)
        await harness.stored(1, 1.5)
        tasks_before = len(asyncua_tasks())

        server.stop(kill=True)
        await harness.connected(False)
        # The connector retries against a closed port meanwhile.
        await asyncio.to_thread(server.start)
        await harness.connected()
        server.set(1, 2.5)

        await harness.stored(1, 2.5)
        state = harness.connector.state
        assert state.details["connections"] == 2
        assert state.errors >= 1  # the loss, and each attempt while the server was down
        # The first client's publish loop, supervisor and watchdogs ended with it.
        assert len(asyncua_tasks()) == tasks_before


async def test_a_server_that_stops_answering_is_detected_and_left(database_url, tmp_path, server):
    # SIGSTOP: the socket stays open and nothing answers; only the keep-alive probe notices.
    async with running(database_url, tmp_path, settings_for(server)) as harness:
        await harness.connected()
        os.kill(server.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            await harness.connected(False)
            noticed_after = time.monotonic() - started
        finally:
            os.kill(server.pid, signal.SIGCONT)
        await harness.connected(within_s=15)
        server.set(1, 9.5)

        await harness.stored(1, 9.5)
        # The probe runs every watchdog_s and gives up after as long.
        assert noticed_after < 2 * harness.connector.watchdog_s + 2
        assert harness.connector.state.details["connections"] == 2


async def test_polling_offers_only_what_changed(database_url, tmp_path, server):
    settings = settings_for(server, mode="poll", poll_interval_s=0.05, deadband=0.5)
    async with running(database_url, tmp_path, settings) as harness:
        await harness.connected()
        state = harness.connector.state
        for node in range(4):
            await harness.stored(node, 0.0)
        # Each value is read before the next is written; the deadband is measured from the
        # value last stored (10.0), not from the previous read.
        for value in (10.0, 10.2, 10.4, 11.0, 11.5, 12.0):
            seen = state.messages
            server.set(0, value)

            async def read(seen: int = seen) -> bool:
                return state.messages > seen

            await eventually(read, f"the poll reading {value}")

        assert await harness.stored(0, 12.0) == [0.0, 10.0, 11.0, 12.0]
        # Many polls of four nodes went by; only the six changes were new.
        assert state.messages == 4 + 6
        assert state.details["mode"] == "poll"


async def test_a_server_refusing_subscriptions_is_polled(database_url, tmp_path):
    with opcua_server(nodes=2, refuse_subscriptions=True) as server:
        settings = settings_for(server, nodes=2, poll_interval_s=0.05)
        async with running(database_url, tmp_path, settings) as harness:
            await harness.connected()
            server.set(1, 3.25)

            assert await harness.stored(1, 3.25) == [0.0, 3.25]
            details = harness.connector.state.details
            assert details["mode"] == "poll"
            assert details["subscription_refused"] == "BadTooManySubscriptions"


async def test_many_nodes_are_subscribed_in_chunks_and_unknown_ones_reported(
    database_url, tmp_path, server, monkeypatch
):
    monkeypatch.setattr(subscription, "ITEMS_PER_CALL", 2)
    settings = settings_for(server)
    settings.nodes.append(settings.nodes[0].model_copy(update={"node_id": "ns=2;s=missing"}))
    settings.nodes.append(settings.nodes[0].model_copy(update={"node_id": "not a node id"}))
    async with running(database_url, tmp_path, settings) as harness:
        await harness.connected()
        server.set(1, 8.5)

        await harness.stored(1, 8.5)
        state = harness.connector.state
        assert state.details["nodes_subscribed"] == 4
        assert state.details["nodes_failed"] == 1
        assert state.details["nodes_invalid"] == 1
        assert "ns=2;s=missing (BadNodeIdUnknown)" in str(state.last_error)


async def test_cancelling_run_disconnects_and_leaves_no_tasks(database_url, tmp_path, server):
    async with running(database_url, tmp_path, settings_for(server)) as harness:
        await harness.connected()
        assert asyncua_tasks()
        harness.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await harness.task

        assert harness.connector.state.connected is False

        async def none_left() -> bool:
            return not asyncua_tasks()

        await eventually(none_left, "asyncua's tasks to end", within_s=3)
