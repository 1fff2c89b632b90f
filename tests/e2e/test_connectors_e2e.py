"""Connectors as an operator runs them: ``shopfloor serve`` with SHOPFLOOR_MQTT_URL, and
``shopfloor connectors run --config FILE`` beside it; readings flow on through the pipeline
into alarms. Real processes, a real Mosquitto and a real OPC-UA server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.connectors.test_mqtt import T0, Publisher
from tests.fixtures.mosquitto import mosquitto_server
from tests.fixtures.opcua_server import opcua_server
from tests.fixtures.process import ServeProcess, ShopfloorProcess

pytestmark = pytest.mark.slow
MACHINE = "acme/press-line/press-1"


def until(check: Callable[[], Any], what: str, within_s: float = 30.0) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {result!r}")
        time.sleep(0.1)


def make_plant(http: httpx.Client) -> dict[str, int]:
    for path, kind in [("acme", "site"), ("acme/press-line", "line"), (MACHINE, "machine")]:
        assert http.post("/assets", json={"path": path, "kind": kind}).status_code == 201
    ids = {}
    for name in ("oil-temp", "pressure"):
        response = http.post(
            "/sensors", json={"path": f"{MACHINE}/{name}", "low_limit": 0, "high_limit": 100}
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


def open_alarms(http: httpx.Client, path: str) -> list[dict[str, Any]]:
    items = http.get("/alarms", params={"state": "open"}).json()["items"]
    return [alarm for alarm in items if alarm["path"] == path]


def test_serve_with_an_mqtt_url_and_a_connectors_process_beside_it(tmp_path: Path):
    with mosquitto_server() as broker, opcua_server(nodes=1) as opcua:
        serve = ServeProcess(
            tmp_path,
            env={"SHOPFLOOR_MQTT_URL": broker.url(), "SHOPFLOOR_AUTO_REGISTER": "false"},
        )
        config = tmp_path / "connectors.toml"
        config.write_text(
            f"""
[[connectors]]
kind = "opcua"
name = "press-1-plc"
endpoint = "{opcua.endpoint}"
publishing_interval_ms = 100
nodes = [{{ node_id = "{opcua.node_id(0)}", path = "{MACHINE}/pressure" }}]
"""
        )
        others = ShopfloorProcess(tmp_path, "connectors", env=serve.env)
        serve.start()
        try:
            http = httpx.Client(
                base_url=f"{serve.base_url}/api/v1", headers=serve.admin_headers(), timeout=10
            )
            ids = make_plant(http)

            # MQTT inside serve: a breach published on the broker becomes an alarm.
            until(
                lambda: http.get("/connectors/mqtt").json()["status"]["connected"],
                "serve's MQTT connector to connect",
            )
            publisher = Publisher(broker.port)
            try:
                for i, value in enumerate([20.0, 21.0, 150.0]):
                    publisher.send(
                        f"shopfloor/v1/{MACHINE}/oil-temp",
                        json.dumps({"ts": T0 + i, "value": value}),
                    )
                publisher.send(f"shopfloor/v1/{MACHINE}/ghost", b"1.5")
                until(lambda: open_alarms(http, f"{MACHINE}/oil-temp"), "the alarm of the breach")
            finally:
                publisher.close()
            mqtt_status = http.get("/connectors/mqtt").json()
            assert mqtt_status["origin"] == "settings"
            assert mqtt_status["status"]["messages"] == 4
            ready = httpx.get(f"{serve.base_url}/health/ready").json()
            assert ready["connectors"]["mqtt"]["connected"] is True
            letters = until(
                lambda: http.get("/deadletters").json()["items"], "the unknown sensor's letter"
            )
            assert letters[0]["topic"] == f"shopfloor/v1/{MACHINE}/ghost"
            assert "unknown sensor" in letters[0]["error"]

            # OPC-UA in its own process, configured by a file.
            others.spawn("connectors", "run", "--config", str(config))
            until(
                lambda: (
                    http.get("/connectors/press-1-plc").status_code == 200
                    and http.get("/connectors/press-1-plc").json()["status"]["connected"]
                ),
                "the OPC-UA connector of the other process to connect",
            )
            listed = subprocess.run(
                [sys.executable, "-m", "shopfloor", "connectors", "list"],
                env={**serve.env, "COLUMNS": "200"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert listed.returncode == 0, listed.stderr
            assert "press-1-plc" in listed.stdout and "running in" in listed.stdout
            opcua.set(0, 180.0)

            def pressure_stored() -> bool:
                items = http.get(f"/sensors/{ids['pressure']}/readings").json()["items"]
                return any(item["value"] == 180.0 for item in items)

            until(pressure_stored, "the OPC-UA value in the store")
            # The in-process bus of serve picks these readings up through the outbox.
            until(
                lambda: open_alarms(http, f"{MACHINE}/pressure"), "the alarm of the OPC-UA breach"
            )
            item = http.get("/connectors/press-1-plc").json()
            assert item["origin"] == "elsewhere" and item["status"]["state"] == "running"
        finally:
            others.stop()
            serve.stop()
        assert others.process is not None and others.process.returncode == 0, others.log_tail()


def test_a_bad_connectors_file_is_refused_with_a_clear_message(tmp_path: Path):
    config = tmp_path / "bad.toml"
    config.write_text('[[connectors]]\nkind = "mqtt"\nname = "x"\nurl = "http://broker"\n')
    for command in (
        ["connectors", "check", str(config)],
        ["connectors", "run", "--config", str(config)],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "shopfloor", *command],
            env={**ShopfloorProcess(tmp_path, "x").env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert "connectors.0.url" in result.stderr and "mqtt://" in result.stderr, result.stderr
