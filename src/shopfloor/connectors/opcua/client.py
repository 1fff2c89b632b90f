"""The OPC-UA connector: one server, its nodes subscribed (or polled), kept connected.

``run`` owns the connection for as long as it runs. Each connection is a fresh asyncua
``Client`` with a fresh session: connect, subscribe every node (or poll them when the server
refuses subscriptions or ``mode = "poll"``), hand what arrives to the batcher. Whatever ends a
connection — the socket closing, the server restarting, the keep-alive probe timing out, the
server ending the subscription — ends that client: it is disconnected (bounded in time, so
asyncua's background tasks end with it), and after an exponential, jittered backoff a new one
subscribes everything again. Values that changed while disconnected are not recovered; the new
subscription starts from each node's current value.

asyncua's own reconnect (``auto_reconnect``) is left off: the connector needs to know when it
is connected, to back off with jitter across many connectors, and to choose again between
subscribing and polling on each connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any, NoReturn

import structlog
from asyncua import Client, ua

from shopfloor.connectors.backoff import Backoff
from shopfloor.connectors.base import ConnectorState
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.config import OpcUaSettings
from shopfloor.connectors.opcua import polling, subscription
from shopfloor.connectors.opcua.logs import quiet_asyncua
from shopfloor.connectors.opcua.values import Decoder, NodeSpec
from shopfloor.connectors.status import note_error, set_connected

log = structlog.get_logger("shopfloor.connectors")

RETRY_BASE_S = 0.5
# A connection that lasted this long was not a flapping one: the next backoff starts over.
STABLE_S = 10.0
# The session outlives a connection this long on the server, so a crashed connector does not
# hold the server's resources for asyncua's default hour.
SESSION_TIMEOUT_MS = 60_000
CLOSE_TIMEOUT_S = 2.0
LOST_CLOSE_TIMEOUT_S = 0.2


class ConnectionLost(ConnectionError):
    """asyncua reported the connection dead (socket closed or the keep-alive probe failed)."""


def describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ua.UaStatusCodeError):  # asyncua's text ends with the status name
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class OpcUaConnector:
    """Subscribes to the nodes of one OPC-UA server and offers their values to a batcher."""

    def __init__(self, settings: OpcUaSettings) -> None:
        self.settings = settings
        self.state = ConnectorState(settings.name, "opcua")
        self.nodes: list[tuple[NodeSpec, ua.NodeId]] = []
        self.invalid: list[str] = []
        for node in settings.nodes:
            try:
                node_id = ua.NodeId.from_string(node.node_id)
            except ua.UaError:
                self.invalid.append(node.node_id)
                continue
            deadband = settings.deadband if node.deadband is None else node.deadband
            self.nodes.append((NodeSpec(node.node_id, node.path, deadband), node_id))
        # The keep-alive probe reads the server's state this often and gives up after as long:
        # a silent dead server is noticed within about twice this.
        self.watchdog_s = min(5.0, max(1.0, settings.timeout_s / 2))
        self.state.details.update(
            endpoint=settings.endpoint, nodes=len(settings.nodes), mode=None, connections=0
        )
        self._connected_at: float | None = None
        self._connections = 0

    async def run(self, batcher: Batcher) -> None:
        """Stay connected and subscribed until cancelled; every failure is retried."""
        quiet_asyncua()
        decoder = Decoder(self.settings.name, self.state, batcher)
        if self.invalid:
            self.state.details["nodes_invalid"] = len(self.invalid)
            note_error(self.state, f"node ids that cannot be read: {', '.join(self.invalid[:5])}")
        backoff = Backoff(RETRY_BASE_S, self.settings.reconnect_max_s)
        try:
            while True:
                self._connected_at = None
                try:
                    await self._connection(decoder, batcher)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                    self._failed("the connection was cancelled by the OPC-UA client")
                except Exception as exc:  # a connector never gives up on its server
                    self._failed(describe(exc))
                set_connected(self.state, False)
                if self._connected_at and time.monotonic() - self._connected_at >= STABLE_S:
                    backoff.reset()
                delay = backoff.next_delay()
                log.warning(
                    "opc-ua connection failed; will retry",
                    connector=self.state.name,
                    error=self.state.last_error,
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)
        finally:
            set_connected(self.state, False)

    def _failed(self, error: str) -> None:
        note_error(self.state, f"{self.settings.endpoint}: {error}")

    async def _client(self) -> Client:
        settings = self.settings
        client = Client(
            settings.endpoint, timeout=settings.timeout_s, watchdog_intervall=self.watchdog_s
        )
        client.session_timeout = SESSION_TIMEOUT_MS
        client.name = client.description = f"shopfloor {settings.name}"
        if settings.username is not None:
            client.set_user(settings.username)
        if settings.password is not None:
            client.set_password(settings.password)
        if settings.security:
            await client.set_security_string(settings.security)
        return client

    async def _connection(self, decoder: Decoder, batcher: Batcher) -> NoReturn:
        client = await self._client()
        lost: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

        async def on_lost(exc: Exception) -> None:
            if not lost.done():
                lost.set_result(exc)

        client.connection_lost_callback = on_lost
        try:
            await client.connect()
            self._connected_at = time.monotonic()
            self._connections += 1
            self.state.details["connections"] = self._connections
            await self._serve(client, decoder, batcher, lost)
        finally:
            set_connected(self.state, False)
            # A connection known dead cannot answer CloseSession: only asyncua's tasks and the
            # socket need ending, and the next attempt should not wait for a reply.
            await _close(client, LOST_CLOSE_TIMEOUT_S if lost.done() else CLOSE_TIMEOUT_S)

    async def _serve(
        self,
        client: Client,
        decoder: Decoder,
        batcher: Batcher,
        lost: asyncio.Future[Exception],
    ) -> NoReturn:
        per_read, per_call = await polling.operation_limits(client)
        per_read = min(polling.NODES_PER_READ, per_read or polling.NODES_PER_READ)
        per_call = min(subscription.ITEMS_PER_CALL, per_call or subscription.ITEMS_PER_CALL)
        details = self.state.details
        details.pop("subscription_refused", None)
        work: list[Coroutine[Any, Any, NoReturn]] = []
        to_poll = self.nodes
        subscribed = 0
        if self.settings.mode == "subscribe" and self.nodes:
            try:
                done = await subscription.subscribe(client, self.nodes, self.settings, per_call)
            except subscription.SubscriptionRefused as exc:
                details["subscription_refused"] = exc.status
                log.warning(
                    "opc-ua server refused subscriptions; polling", connector=self.state.name
                )
            else:
                to_poll = done.to_poll
                subscribed = len(done.by_handle)
                work.append(subscription.consume(done, decoder, batcher))
                if done.failed:
                    listed = ", ".join(f"{node.node_id} ({why})" for node, why in done.failed[:5])
                    self._failed(f"{len(done.failed)} node(s) not monitored: {listed}")
                details["nodes_failed"] = len(done.failed)
        if to_poll:
            interval = self.settings.poll_interval_s
            work.append(polling.poll(client, to_poll, decoder, batcher, interval, per_read))
        details["nodes_subscribed"] = subscribed
        details["nodes_polled"] = len(to_poll)
        details["mode"] = "poll" if not subscribed else "subscribe+poll" if to_poll else "subscribe"
        log.info(
            "opc-ua connected",
            connector=self.state.name,
            endpoint=self.settings.endpoint,
            mode=details["mode"],
            subscribed=subscribed,
            polled=len(to_poll),
        )
        work.append(_watch(lost))
        # Connected means receiving: only now is every node subscribed or polled.
        set_connected(self.state, True)
        await _first_to_end(work)


async def _watch(lost: asyncio.Future[Exception]) -> NoReturn:
    cause = await lost
    raise ConnectionLost(f"connection lost ({describe(cause)})")


async def _first_to_end(work: list[Coroutine[Any, Any, NoReturn]]) -> NoReturn:
    """Run the coroutines together; the first to fail ends the others and raises."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
        raise ConnectionLost("a connection task ended")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(client: Client, within_s: float) -> None:
    """Disconnect within a bounded time; a dead server must not hold up the next attempt."""
    try:
        with contextlib.suppress(Exception):  # the connection is gone either way
            await asyncio.wait_for(client.disconnect(), within_s)
    finally:
        # After a timed-out close the socket may still be open; this is a no-op otherwise.
        client.disconnect_socket()
