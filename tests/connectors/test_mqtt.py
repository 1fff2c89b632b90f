"""The MQTT connector against a real Mosquitto and the real ingest path (SQLite, PostgreSQL).

Messages are published with paho from the test; the connector runs as a task with its batcher
over the real ingestor. Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from shopfloor.connectors.config import MqttSettings, SparkplugSettings
from shopfloor.connectors.deadletters import list_dead_letters
from shopfloor.connectors.models import ConnectorDeadLetter
from shopfloor.connectors.mqtt.connector import MqttConnector
from shopfloor.connectors.sparkplug import encode_payload, parse_topic
from shopfloor.plant import repository
from shopfloor.readings.service import Ingestor
from shopfloor.storage import Database
from tests.connectors.helpers import connector_running, eventually
from tests.fixtures.mosquitto import MosquittoServer, mosquitto_server

PREFIX = "shopfloor/v1"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def broker() -> Iterator[MosquittoServer]:
    with mosquitto_server() as server:
        yield server


class Publisher:
    """A paho publisher on its own network thread: QoS 1, a persistent session, and resends
    of unacknowledged messages after a broker restart."""

    def __init__(self, port: int, client_id: str = "test-publisher") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.on_publish = self._acknowledged
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent: set[int] = set()
        self.acknowledged: set[int] = set()

    def _acknowledged(self, _c: object, _u: object, mid: int, _r: object, _p: object) -> None:
        self.acknowledged.add(mid)

    def send(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        # Published while the broker is down, a message is kept and sent after the reconnect.
        self.sent.add(self.client.publish(topic, payload, qos=qos).mid)

    def all_acknowledged(self) -> bool:
        """Every message sent so far was acknowledged by the broker (PUBACK)."""
        return self.sent <= self.acknowledged

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class Harness:
    db: Database
    ingestor: Ingestor
    connector: MqttConnector

    async def values(self, path: str) -> list[tuple[int, float]]:
        async with self.db.read() as session:
            ids = await repository.sensor_ids_by_path(session, [path])
            if path not in ids:
                return []
            return await self.ingestor.store.range(session, ids[path], 0, 2**62, 100_000)

    async def count(self, path: str) -> int:
        return len(await self.values(path))

    async def letters(self) -> list[ConnectorDeadLetter]:
        return await list_dead_letters(self.db, limit=10_000)

    async def connected(self, expected: bool = True, within_s: float = 15.0) -> None:
        async def check() -> bool:
            return self.connector.state.connected is expected

        await eventually(check, f"connected={expected}", within_s)


@contextlib.asynccontextmanager
async def running(
    database_url: str, tmp_path: Path, settings: MqttSettings, auto_register: bool = True
) -> AsyncIterator[Harness]:
    connector = MqttConnector(settings)
    async with connector_running(
        database_url, tmp_path, connector, auto_register=auto_register
    ) as live:
        yield Harness(live.db, live.ingestor, connector)


def settings_for(broker: MosquittoServer, **options: Any) -> MqttSettings:
    return MqttSettings(name="plant", url=broker.url(), reconnect_max_s=0.5, **options)


async def test_plain_json_and_list_payloads_are_stored(database_url, tmp_path, broker):
    async with running(database_url, tmp_path, settings_for(broker)) as harness:
        await harness.connected()
        publisher = Publisher(broker.port)
        try:
            publisher.send(f"{PREFIX}/acme/press-1/temp", b"21.5")
            publisher.send(f"{PREFIX}/acme/press-1/pressure", json.dumps({"ts": T0, "value": 7}))
            publisher.send(
                f"{PREFIX}/acme/press-1/speed",
                json.dumps(
                    [
                        {"ts": "2026-01-01T00:00:01Z", "value": 1.5},
                        {"ts": T0 + 2.25, "value": 2.5},
                    ]
                ),
            )

            async def all_there() -> bool:
                counts = [
                    await harness.count(f"acme/press-1/{name}")
                    for name in ("temp", "pressure", "speed")
                ]
                return counts == [1, 1, 2]

            await eventually(all_there, "the four readings stored")
        finally:
            publisher.close()
        assert await harness.values("acme/press-1/pressure") == [(T0 * 1_000_000, 7.0)]
        assert await harness.values("acme/press-1/speed") == [
            ((T0 + 1) * 1_000_000, 1.5),
            ((T0 + 2.25) * 1_000_000, 2.5),
        ]
        [(received_us, value)] = await harness.values("acme/press-1/temp")
        assert value == 21.5
        assert abs(received_us / 1e6 - harness.connector.state.last_message_at) < 60
        state = harness.connector.state
        assert (state.messages, state.readings, state.dead_letters) == (3, 4, 0)
        assert await harness.letters() == []


async def test_a_thousand_malformed_payloads_go_to_the_dead_letters(database_url, tmp_path, broker):
    bad = [
        (f"{PREFIX}/acme/line/s1", b"not a number"),
        (f"{PREFIX}/acme/line/s1", b'{"ts": 1, "value": "hot"}'),
        (f"{PREFIX}/acme/line/s1", b"NaN"),
        (f"{PREFIX}/Acme/Line/S1", b"1.0"),
        (f"{PREFIX}/acme/line/s1", b'[{"ts": "yesterday", "value": 1}]'),
    ]
    async with running(database_url, tmp_path, settings_for(broker)) as harness:
        await harness.connected()
        publisher = Publisher(broker.port)
        try:
            for i in range(1000):
                topic, payload = bad[i % len(bad)]
                publisher.send(topic, payload)
                # Good messages interleaved: the loop keeps consuming them.
                publisher.send(f"{PREFIX}/acme/line/good", json.dumps({"ts": T0 + i, "value": i}))

            async def settled() -> bool:
                return (
                    harness.connector.state.dead_letters == 1000
                    and await harness.count("acme/line/good") == 1000
                )

            await eventually(settled, "1000 dead letters and 1000 good readings", 60)
        finally:
            publisher.close()
        letters = await harness.letters()
        assert len(letters) == 1000
        reasons = {letter.reason for letter in letters}
        assert reasons == {
            "the payload is neither a number nor JSON: 'not a number'",
            "payload: value must be a number, not a string",
            "payload must be finite (no NaN or infinity)",
            "topic 'shopfloor/v1/Acme/Line/S1' does not end in a sensor path: "
            "segment 'Acme' must match [a-z0-9_-]+",
            "item 0: ts 'yesterday' is not an RFC 3339 time",
        }
        assert {letter.payload for letter in letters} == {payload for _, payload in bad}
        assert all(letter.source == "plant" for letter in letters)
        assert await harness.count("acme/line/s1") == 0


async def test_unknown_sensors_are_dead_letters_when_auto_register_is_off(
    database_url, tmp_path, broker
):
    settings = settings_for(broker)
    async with running(database_url, tmp_path, settings, auto_register=False) as harness:
        await harness.connected()
        publisher = Publisher(broker.port)
        try:
            publisher.send(f"{PREFIX}/acme/ghost", json.dumps({"ts": T0, "value": 1}))

            async def one_letter() -> list[ConnectorDeadLetter]:
                return await harness.letters()

            [letter] = await eventually(one_letter, "the dead letter")
        finally:
            publisher.close()
        assert letter.topic == f"{PREFIX}/acme/ghost"
        assert letter.reason == "item 0 (sensor): unknown sensor 'acme/ghost'"


@pytest.mark.slow
async def test_a_broker_restart_loses_nothing_and_stores_each_message_once(
    database_url, tmp_path, broker
):
    total = 3000
    async with running(database_url, tmp_path, settings_for(broker)) as harness:
        await harness.connected()
        publisher = Publisher(broker.port)
        restarted = threading.Event()

        def publish_all() -> None:
            for i in range(total):
                publisher.send(f"{PREFIX}/acme/line/flow", json.dumps({"ts": T0 + i, "value": i}))
                if i == total // 3:
                    # Mid-stream: stop the broker (it saves its sessions) and start it again.
                    broker.stop()
                    broker.start()
                    restarted.set()

        try:
            await asyncio.to_thread(publish_all)
            assert restarted.is_set()

            async def everything() -> bool:
                stored = await harness.count("acme/line/flow")
                return publisher.all_acknowledged() and stored == total

            await eventually(everything, f"all {total} messages stored", 90)
        finally:
            publisher.close()
        stored = await harness.values("acme/line/flow")
        assert [value for _, value in stored] == [float(i) for i in range(total)]
        assert harness.connector.state.errors >= 1  # the connection it lost
        assert harness.connector.state.connected


async def test_messages_published_while_the_connector_is_away_arrive(
    database_url, tmp_path, broker
):
    settings = settings_for(broker)
    async with running(database_url, tmp_path, settings) as harness:
        await harness.connected()  # the broker now holds a session for it
    publisher = Publisher(broker.port)
    try:
        for i in range(200):
            publisher.send(f"{PREFIX}/acme/line/away", json.dumps({"ts": T0 + i, "value": i}))
        await eventually(
            lambda: asyncio.sleep(0, publisher.all_acknowledged()), "the broker to take them"
        )
        async with running(database_url, tmp_path, settings) as harness:

            async def all_stored() -> bool:
                return await harness.count("acme/line/away") == 200

            await eventually(all_stored, "the 200 messages queued for the connector")
    finally:
        publisher.close()


async def test_username_and_password(database_url, tmp_path):
    with mosquitto_server(users={"line": "s3cret-pass"}) as broker:
        wrong = MqttSettings(
            name="plant", url=broker.url().replace("//", "//line:wrong@"), reconnect_max_s=0.5
        )
        async with running(database_url, tmp_path, wrong) as harness:

            async def refused() -> bool:
                return harness.connector.state.errors >= 1

            await eventually(refused, "the refusal")
            assert "Not authorized" in (harness.connector.state.last_error or "")
            assert not harness.connector.state.connected
        right = MqttSettings(name="plant", url=broker.url("line"), reconnect_max_s=0.5)
        async with running(database_url, tmp_path, right) as harness:
            await harness.connected()


async def test_sparkplug_births_and_data_become_readings(database_url, tmp_path, broker):
    settings = settings_for(broker, sparkplug=SparkplugSettings(group="Plant1"))
    commands: list[tuple[str, bytes]] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = lambda _c, _u, m: commands.append((m.topic, m.payload))
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("spBv1.0/Plant1/NCMD/#", qos=1)
    watcher.loop_start()
    async with running(database_url, tmp_path, settings) as harness:
        await harness.connected()
        publisher = Publisher(broker.port)
        try:
            # Data before any birth: unreadable by alias, and the node is asked to rebirth.
            publisher.send(
                "spBv1.0/Plant1/NDATA/Edge-A",
                encode_payload([{"alias": 1, "value": 5.0, "datatype": "Double"}], seq=1),
            )
            await eventually(lambda: asyncio.sleep(0, commands), "a rebirth command")
            assert parse_topic(commands[0][0]).message_type == "NCMD"

            publisher.send(
                "spBv1.0/Plant1/NBIRTH/Edge-A",
                encode_payload(
                    [
                        {"name": "bdSeq", "datatype": "Int64", "value": 0},
                        {"name": "Oven/Temp", "alias": 1, "datatype": "Double", "value": 180.5},
                    ],
                    seq=0,
                    timestamp=T0 * 1000,
                ),
            )
            publisher.send(
                "spBv1.0/Plant1/NDATA/Edge-A",
                encode_payload([{"alias": 1, "value": 181.0, "timestamp": T0 * 1000 + 500}], seq=1),
            )

            async def both() -> bool:
                return await harness.count("plant1/edge-a/oven/temp") == 2

            await eventually(both, "the birth value and the data value")
        finally:
            publisher.close()
            watcher.loop_stop()
            watcher.disconnect()
        assert await harness.values("plant1/edge-a/oven/temp") == [
            (T0 * 1_000_000, 180.5),
            (T0 * 1_000_000 + 500_000, 181.0),
        ]
        [letter] = await harness.letters()
        assert "alias 1 of Plant1/Edge-A is unknown" in letter.reason


async def test_dead_letter_count_matches_the_database(database_url, tmp_path, broker):
    async with running(database_url, tmp_path, settings_for(broker)) as harness:
        await harness.connected()
        publisher = Publisher(broker.port)
        try:
            for _ in range(10):
                publisher.send(f"{PREFIX}/acme/x", b"{broken")

            async def ten() -> bool:
                return harness.connector.state.dead_letters == 10

            await eventually(ten, "ten dead letters")
        finally:
            publisher.close()
        async with harness.db.read() as session:
            stored = await session.scalar(select(func.count()).select_from(ConnectorDeadLetter))
        assert stored == 10


async def test_mqtt5_messages_with_properties_are_read_too(database_url, tmp_path, broker):
    # Messages without properties take the connector's fast path; these go through paho's.
    async with running(database_url, tmp_path, settings_for(broker)) as harness:
        await harness.connected()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="v5-publisher", protocol=mqtt.MQTTv5
        )
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = ("line", "7")
            properties.ContentType = "application/json"
            for i in range(3):
                client.publish(
                    f"{PREFIX}/acme/line/props",
                    json.dumps({"ts": T0 + i, "value": i}),
                    qos=1,
                    properties=properties,
                ).wait_for_publish(10)
            client.publish(
                f"{PREFIX}/acme/line/props", json.dumps({"ts": T0 + 3, "value": 3}), qos=1
            )

            async def four() -> bool:
                return await harness.count("acme/line/props") == 4

            await eventually(four, "the four readings, three of them with properties")
        finally:
            client.loop_stop()
            client.disconnect()
        assert [v for _, v in await harness.values("acme/line/props")] == [0.0, 1.0, 2.0, 3.0]
