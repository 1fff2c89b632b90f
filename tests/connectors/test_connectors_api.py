"""Connectors through the API: defined, started in the serving process, reported, changed,
removed; their dead letters listed and replayed. A real Mosquitto broker; both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from shopfloor.connectors.models import ConnectorConfig
from tests.connectors.helpers import eventually
from tests.connectors.test_mqtt import T0, Publisher
from tests.fixtures.mosquitto import MosquittoServer, mosquitto_server

PREFIX = "shopfloor/v1"


@pytest.fixture
def broker() -> Iterator[MosquittoServer]:
    with mosquitto_server() as server:
        yield server


def mqtt_body(broker: MosquittoServer, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "mqtt",
        "name": "line-broker",
        "url": broker.url().replace("//", "//line:pa55word@"),
        "reconnect_max_s": 0.5,
        **extra,
    }


async def status_of(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.get(f"/connectors/{name}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_connector_defined_through_the_api_runs_and_reports(
    client: httpx.AsyncClient, plant: dict[str, int], broker: MosquittoServer
):
    response = await client.post("/connectors", json=mqtt_body(broker))
    assert response.status_code == 201, response.text
    created = response.json()
    # The password moved out of the URL and is never shown.
    assert created["settings"]["url"] == broker.url()
    assert created["settings"]["username"] == "line"
    assert created["settings"]["password"] == "***"
    assert created["origin"] == "api" and created["enabled"] is True

    async def connected() -> bool:
        return (await status_of(client, "line-broker"))["status"]["connected"]

    await eventually(connected, "the connector to connect", 15)
    publisher = Publisher(broker.port)
    try:
        for i in range(5):
            publisher.send(
                f"{PREFIX}/acme/press-line/press-1/oil-temp", json.dumps({"ts": T0 + i, "value": i})
            )
        sensor_id = plant["acme/press-line/press-1/oil-temp"]

        async def five() -> bool:
            answer = await client.get(f"/sensors/{sensor_id}/readings")
            return len(answer.json()["items"]) == 5

        await eventually(five, "five readings through the API-defined connector")
    finally:
        publisher.close()

    status = (await status_of(client, "line-broker"))["status"]
    assert status["state"] == "running"
    assert status["messages"] == 5 and status["readings"] == 5
    assert status["last_message_at"] is not None
    ready = (await client.get("/health/ready")).json()
    assert ready["connectors"]["line-broker"]["connected"] is True
    assert ready["connectors"]["line-broker"]["messages"] == 5
    metric = REGISTRY.get_sample_value(
        "shopfloor_connector_messages_total", {"connector": "line-broker"}
    )
    assert metric == 5.0
    assert (
        REGISTRY.get_sample_value(
            "shopfloor_connector_connected", {"connector": "line-broker", "kind": "mqtt"}
        )
        == 1.0
    )

    # Disabled: stopped in this process.
    response = await client.patch("/connectors/line-broker", json={"enabled": False})
    assert response.status_code == 200, response.text

    async def stopped() -> bool:
        return (await status_of(client, "line-broker"))["status"]["state"] == "stopped"

    await eventually(stopped, "the connector to stop")
    response = await client.delete("/connectors/line-broker")
    assert response.status_code == 204
    assert (await client.get("/connectors/line-broker")).status_code == 404
    assert (await client.get("/connectors")).json()["items"] == []


async def test_replacing_keeps_a_password_sent_back_hidden(
    client: httpx.AsyncClient, broker: MosquittoServer, app
):
    response = await client.post("/connectors", json=mqtt_body(broker, enabled=False))
    assert response.status_code == 201, response.text
    shown = response.json()["settings"]
    body = {"kind": "mqtt", "name": "line-broker", **shown, "topic_prefix": "plant/v2"}
    response = await client.put("/connectors/line-broker", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["topic_prefix"] == "plant/v2"
    async with app.state.db.read() as session:
        stored = await session.scalar(select(ConnectorConfig))
    assert stored.settings["password"] == "pa55word"


async def test_bad_definitions_are_refused_clearly(
    client: httpx.AsyncClient, broker: MosquittoServer
):
    response = await client.post("/connectors", json=mqtt_body(broker, url="http://x"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any("mqtt://" in error["msg"] for error in response.json()["errors"])
    opcua = {
        "kind": "opcua",
        "name": "press",
        "endpoint": "opc.tcp://127.0.0.1:4840",
        "nodes": [{"node_id": "ns=2;i=1", "path": "Not A Path"}],
    }
    response = await client.post("/connectors", json=opcua)
    assert response.status_code == 422
    assert "segment" in json.dumps(response.json()["errors"])
    response = await client.post("/connectors", json={"kind": "modbus", "name": "x"})
    assert response.status_code == 422

    body = mqtt_body(broker, enabled=False)
    assert (await client.post("/connectors", json=body)).status_code == 201
    again = await client.post("/connectors", json=body)
    assert again.status_code == 409
    assert "exists" in again.json()["detail"]
    renamed = await client.put("/connectors/line-broker", json={**body, "name": "other"})
    assert renamed.status_code == 409
    assert (
        await client.put("/connectors/ghost", json={**body, "name": "ghost"})
    ).status_code == 404


async def test_unreadable_messages_are_listed_and_replayed_once_fixed(
    client: httpx.AsyncClient, plant: dict[str, int], broker: MosquittoServer, app
):
    # A sensor that does not exist yet: its messages become dead letters.
    response = await client.post("/connectors", json=mqtt_body(broker))
    assert response.status_code == 201

    async def connected() -> bool:
        return (await status_of(client, "line-broker"))["status"]["connected"]

    await eventually(connected, "the connector to connect", 15)
    publisher = Publisher(broker.port)
    try:
        for i in range(3):
            publisher.send(
                f"{PREFIX}/acme/press-line/press-1/speed", json.dumps({"ts": T0 + i, "value": i})
            )
        publisher.send(f"{PREFIX}/acme/press-line/press-1/oil-temp", b"{broken")

        async def four_letters() -> list[dict[str, Any]]:
            items = (await client.get("/deadletters")).json()["items"]
            return items if len(items) == 4 else []

        letters = await eventually(four_letters, "four dead letters")
    finally:
        publisher.close()
    assert {letter["source"] for letter in letters} == {"line-broker"}
    reasons = sorted(letter["error"] for letter in letters)
    assert reasons[0].startswith("item 0 (sensor): unknown sensor 'acme/press-line/press-1/speed'")
    assert "neither a number nor JSON" in reasons[-1]
    below = (await client.get("/deadletters", params={"topic": f"{PREFIX}/acme/#"})).json()
    assert len(below["items"]) == 4

    # The cause is fixed: the sensor exists now.
    response = await client.post("/sensors", json={"path": "acme/press-line/press-1/speed"})
    assert response.status_code == 201
    answer = (await client.post("/deadletters/replay")).json()
    assert answer == {"replayed": 3, "still_failing": 1}
    readings = await client.get(f"/sensors/{response.json()['id']}/readings")
    assert [item["value"] for item in readings.json()["items"]] == [0.0, 1.0, 2.0]
    [left] = (await client.get("/deadletters")).json()["items"]
    assert left["attempts"] == 2 and left["payload"] == "{broken"
