"""A reading acknowledged with 202 survives the process being killed right after."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest

from shopfloor.storage.migrate import upgrade
from tests.fixtures.process import ServeProcess

pytestmark = pytest.mark.slow

SENSORS = [f"plant/line/machine/s{i}" for i in range(4)]
BATCH = 500


def _batch(number: int) -> dict:
    base = 1_700_000_000 + number * BATCH
    return {
        "series": [
            {
                "sensor": sensor,
                "ts": [base + i for i in range(BATCH)],
                "values": [float(number * 10_000 + i) for i in range(BATCH)],
            }
            for sensor in SENSORS
        ]
    }


def _post_until_killed(
    server: ServeProcess,
    headers: dict[str, str],
    acknowledged: list[int],
    start: int,
    step: int,
    kill_after: int,
    killed: threading.Event,
) -> None:
    number = start
    with httpx.Client(base_url=server.base_url, timeout=10, headers=headers) as http:
        while not killed.is_set():
            try:
                response = http.post("/api/v1/readings", json=_batch(number))
            except httpx.TransportError:
                return  # the server is gone: this batch was never acknowledged
            if response.status_code == 202:
                acknowledged.append(number)
                if len(acknowledged) >= kill_after and not killed.is_set():
                    killed.set()
                    server.kill()
            number += step


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_acknowledged_readings_survive_sigkill(backend, tmp_path, request):
    env = {"SHOPFLOOR_AUTO_REGISTER": "true"}
    if backend == "postgresql":
        server_pg = request.getfixturevalue("pg_server")
        url = server_pg.create_database("durability")
        env["SHOPFLOOR_DATABASE_URL"] = url
        upgrade(url)
    server = ServeProcess(tmp_path / "data", env)
    server.start()
    headers = server.admin_headers()
    acknowledged: list[int] = []
    killed = threading.Event()
    # Two clients keep requests in flight, so the kill lands mid-request as well.
    workers = [
        threading.Thread(
            target=_post_until_killed, args=(server, headers, acknowledged, start, 2, 20, killed)
        )
        for start in (0, 1)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert killed.is_set() and len(acknowledged) >= 20

    server.start()
    try:
        with httpx.Client(
            base_url=f"{server.base_url}/api/v1", timeout=10, headers=headers
        ) as http:
            sensors = http.get("/sensors", params={"under": "plant", "limit": 100}).json()["items"]
            assert sorted(s["path"] for s in sensors) == SENSORS
            for sensor in sensors:
                stored: dict[str, float] = {}
                cursor = None
                while True:
                    params = {"limit": 10_000, **({"cursor": cursor} if cursor else {})}
                    page = http.get(f"/sensors/{sensor['id']}/readings", params=params).json()
                    stored.update({item["ts"]: item["value"] for item in page["items"]})
                    cursor = page["next_cursor"]
                    if cursor is None:
                        break
                for number in acknowledged:
                    for i in range(BATCH):
                        key = _rfc3339(1_700_000_000 + number * BATCH + i)
                        assert stored.get(key) == float(number * 10_000 + i), (sensor, number, i)
                assert len(stored) >= len(acknowledged) * BATCH
    finally:
        server.stop()


def _rfc3339(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
