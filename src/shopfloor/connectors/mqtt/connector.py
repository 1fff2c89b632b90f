"""The MQTT connector: subscribe, decode, hand to the batcher, acknowledge after the commit.

Sessions are persistent (a fixed client id, clean start off, a session expiry): messages
published while the connector is away wait at the broker, and QoS 1 messages delivered but not
yet acknowledged are delivered again after a reconnect or a crash. A PUBACK goes out only once
the message's readings (or its dead letter) are committed. Redelivered messages carrying a
``ts`` are stored once (readings are unique per sensor and time); a plain number is stamped
with the time of receipt, so a redelivery of one can store it a second time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shopfloor.connectors.backoff import Backoff
from shopfloor.connectors.base import ConnectorState, DeadLetterIn, Message, Unreadable
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.config import MqttSettings
from shopfloor.connectors.mqtt.paho_client import Client, LoopDriver
from shopfloor.connectors.mqtt.payloads import TopicPaths, decode_readings
from shopfloor.connectors.sparkplug import (
    NAMESPACE,
    SparkplugDecoder,
    parse_topic,
    rebirth_command,
    subscription,
)
from shopfloor.connectors.status import note_error, set_connected

log = structlog.get_logger("shopfloor.connectors.mqtt")
CONNECT_TIMEOUT_S = 15.0
# A connection that held this long was a success: the next failure starts backing off afresh.
STABLE_AFTER_S = 30.0


class ConnectRefused(ConnectionError):
    """The broker answered CONNACK with a failure (bad credentials, not authorised …)."""


class MqttConnector:
    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.state = ConnectorState(settings.name, "mqtt")
        self.paths = TopicPaths(settings.topic_prefix)
        self.sparkplug = SparkplugDecoder(settings.sparkplug) if settings.sparkplug else None
        self._sparkplug_prefix = NAMESPACE + "/"
        # Packet ids are per connection: an acknowledgement due after a reconnect must not be
        # sent, or it would settle some other message of the new connection.
        self._connection = 0

    def topics(self) -> list[str]:
        topics = [f"{self.settings.topic_prefix}/#"]
        if self.settings.sparkplug is not None:
            topics.append(subscription(self.settings.sparkplug.group))
        return topics

    async def run(self, batcher: Batcher) -> None:
        """Connect, receive and reconnect with backoff until cancelled."""
        backoff = Backoff(0.5, self.settings.reconnect_max_s)
        while True:
            started = time.monotonic()
            try:
                reason = await self._connection_lifetime(batcher)
                note_error(self.state, f"connection lost: {reason}")
            except Exception as exc:  # a connector never gives up on its broker
                note_error(self.state, f"cannot connect to {self._where()}: {exc}")
            finally:
                set_connected(self.state, False)
            if time.monotonic() - started > STABLE_AFTER_S:
                backoff.reset()
            delay = backoff.next_delay()
            log.warning(
                "mqtt connection down; reconnecting",
                connector=self.state.name,
                error=self.state.last_error,
                retry_in_s=round(delay, 2),
            )
            await asyncio.sleep(delay)

    def _where(self) -> str:
        parts = urlsplit(self.settings.url)
        return f"{parts.hostname}:{parts.port or self._default_port()}"

    def _default_port(self) -> int:
        return 8883 if self.settings.url.startswith("mqtts") else 1883

    def _client(self) -> Client:
        settings = self.settings
        protocol = mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311
        client = Client(settings.client_id or f"shopfloor-{settings.name}", protocol)
        parts = urlsplit(settings.url)
        username = settings.username or (unquote(parts.username) if parts.username else None)
        if username:
            password = settings.password or unquote(parts.password or "")
            client.username_pw_set(username, password or None)
        if parts.scheme == "mqtts":
            client.tls_set(
                ca_certs=settings.ca_file, certfile=settings.cert_file, keyfile=settings.key_file
            )
            client.tls_insecure_set(settings.tls_insecure)
        return client

    async def _connection_lifetime(self, batcher: Batcher) -> str:
        """One connection, from connect to loss; returns why it ended."""
        loop = asyncio.get_running_loop()
        client = self._client()
        connected: asyncio.Future[None] = loop.create_future()
        ended: asyncio.Future[str] = loop.create_future()

        def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
            if connected.done():
                return
            if getattr(reason, "is_failure", False):
                connected.set_exception(ConnectRefused(f"the broker refused: {reason}"))
            else:
                connected.set_result(None)

        def on_disconnect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
            if not ended.done():
                ended.set_result(str(reason))
            if not connected.done():
                connected.set_exception(ConnectionError(f"disconnected: {reason}"))

        client.on_connect = on_connect
        self._connection += 1
        client.on_message = self._receiver(client, batcher, self._connection)
        await asyncio.wait_for(asyncio.to_thread(self._connect, client), CONNECT_TIMEOUT_S)
        # Set only now: a disconnect inside connect() runs on the worker thread, where the
        # futures must not be touched; _connect raises for it instead.
        client.on_disconnect = on_disconnect
        driver = LoopDriver(client, loop)
        timers = asyncio.create_task(
            driver.keep_alive(lambda: ended.done() or ended.set_result("keep-alive timed out"))
        )
        try:
            await asyncio.wait_for(asyncio.shield(connected), CONNECT_TIMEOUT_S)
            for topic in self.topics():
                client.subscribe(topic, qos=self.settings.qos)
            set_connected(self.state, True)
            log.info("mqtt connected", connector=self.state.name, broker=self._where())
            backpressure = asyncio.create_task(self._hold_back(driver, batcher))
            try:
                return await ended
            finally:
                backpressure.cancel()
        finally:
            timers.cancel()
            driver.detach()
            client.on_message = None
            client.disconnect()
            client.socket() and client._sock_close()

    def _connect(self, client: Client) -> None:
        parts = urlsplit(self.settings.url)
        host, port = parts.hostname or "localhost", parts.port or self._default_port()
        if self.settings.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.settings.session_expiry_s
            properties.ReceiveMaximum = self.settings.receive_maximum
            rc = client.connect(
                host, port, self.settings.keepalive_s, clean_start=False, properties=properties
            )
        else:
            rc = client.connect(host, port, self.settings.keepalive_s)
        # paho sends CONNECT within connect(); when that send fails (a broker that rejected our
        # TLS client certificate just after the handshake) it returns an error code, with its
        # socket already closed, instead of raising.
        if rc != mqtt.MQTT_ERR_SUCCESS or client.socket() is None:
            why = client.last_socket_error or mqtt.error_string(rc)
            raise ConnectionError(f"the connection closed while sending CONNECT: {why}")

    async def _hold_back(self, driver: LoopDriver, batcher: Batcher) -> None:
        """Stop reading while the batcher's backlog is full; the broker then waits for us."""
        while True:
            await batcher.full()
            driver.pause()
            await batcher.room()
            driver.resume()

    def _receiver(
        self, client: Client, batcher: Batcher, connection: int
    ) -> Callable[[object, object, mqtt.MQTTMessage], None]:
        state = self.state
        name = state.name
        paths = self.paths
        sparkplug_prefix = self._sparkplug_prefix

        def on_message(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
            now = time.time()
            state.messages += 1
            state.last_message_at = now
            done = self._acknowledger(client, message, connection)
            topic = message.topic
            payload = message.payload
            try:
                if self.sparkplug is not None and topic.startswith(sparkplug_prefix):
                    batcher.offer(self._sparkplug(client, topic, payload, now, done))
                    return
                times, values = decode_readings(payload, int(now * 1_000_000))
                path = paths.path(topic)
                batcher.offer(
                    Message(name, topic, payload, [path] * len(times), times, values, done)
                )
            except Unreadable as exc:
                batcher.dead_letter(
                    DeadLetterIn(name, topic, payload, str(exc), received_at=now), done
                )

        return on_message

    def _acknowledger(
        self, client: Client, message: mqtt.MQTTMessage, connection: int
    ) -> Callable[[], None] | None:
        if not message.qos:
            return None
        mid, qos = message.mid, message.qos

        def acknowledge() -> None:
            if connection == self._connection:
                client.ack(mid, qos)

        return acknowledge

    def _sparkplug(
        self,
        client: Client,
        topic: str,
        payload: bytes,
        now: float,
        done: Callable[[], None] | None,
    ) -> Message:
        assert self.sparkplug is not None
        try:
            decoded = self.sparkplug.decode(topic, payload, int(now * 1_000_000))
        finally:
            if self.sparkplug.needs_rebirth(topic):
                where = parse_topic(topic)
                command_topic, command = rebirth_command(where.group, where.edge_node)
                client.publish(command_topic, command, qos=0)
                log.info("asked an edge node to rebirth", connector=self.state.name, topic=topic)
        if decoded.problems:
            skipped = self.state.details.get("sparkplug_metrics_skipped", 0)
            self.state.details["sparkplug_metrics_skipped"] = int(skipped) + len(decoded.problems)  # type: ignore[call-overload]
            self.state.details["sparkplug_last_problem"] = decoded.problems[-1]
        return Message(
            self.state.name, topic, payload, decoded.paths, decoded.ts_us, decoded.values, done
        )
