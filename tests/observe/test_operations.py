"""Operations: liveness, readiness, Prometheus metrics and request ids."""

import json

from prometheus_client.parser import text_string_to_metric_families

from tests.core.helpers import assert_problem, client_for

OIL = "acme/press-line/press-1/oil-temp"
ROOT = "http://test"


async def scrape(client, url=f"{ROOT}/metrics"):
    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_liveness(client):
    for url in (f"{ROOT}/health/live", "/health/live"):
        response = await client.get(url)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


async def test_readiness_checks_the_database(client):
    for url in (f"{ROOT}/health/ready", "/health/ready"):
        response = await client.get(url)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["checks"]["database"] == "ok"


async def test_readiness_is_503_naming_a_database_that_is_down(
    settings, backend, tmp_path, request
):
    if backend == "sqlite":
        unreachable = f"sqlite+aiosqlite:///{tmp_path}"  # a folder: not a database file
    else:
        unreachable = settings.database_url.rsplit("/", 1)[0] + "/no_such_database"
    async with client_for(settings, database_url=unreachable) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] != "ok"
        assert body["checks"]["database"].startswith("down")
        assert (await client.get("/health/live")).status_code == 200


METRIC_NAMES = (
    "shopfloor_readings_ingested_total",
    "shopfloor_readings_duplicate_total",
    "shopfloor_readings_rejected_total",
    "shopfloor_http_request_duration_seconds_count",
)


async def test_metrics_are_served_at_the_root(client, plant):
    bad = {"readings": [{"sensor": OIL, "ts": "never", "value": 1}]}
    assert_problem(await client.post("/readings", json=bad), 422)
    names = {name for name, _ in await scrape(client)}
    for expected in METRIC_NAMES:
        assert expected in names


async def test_metrics_are_served_under_the_api_prefix(client):
    names = {name for name, _ in await scrape(client, "/metrics")}
    assert "shopfloor_readings_ingested_total" in names


async def test_ingested_and_duplicate_readings_are_counted(client, plant):
    before = await scrape(client)
    readings = [{"sensor": OIL, "ts": 1_700_000_000 + i, "value": i} for i in range(5)]
    assert (await client.post("/readings", json={"readings": readings})).status_code == 202
    assert (await client.post("/readings", json={"readings": readings[:2]})).status_code == 202
    after = await scrape(client)
    ingested = "shopfloor_readings_ingested_total"
    duplicates = "shopfloor_readings_duplicate_total"
    assert value(after, ingested) - value(before, ingested) == 5
    assert value(after, duplicates) - value(before, duplicates) == 2


async def test_rejected_readings_are_counted_by_reason(settings, plant):
    async with client_for(settings, max_readings_per_request=3) as client:
        before = await scrape(client)
        bad = [{"sensor": OIL, "ts": 1_700_000_000, "value": float("nan")}, {"sensor": OIL}]
        text = json.dumps({"readings": bad})
        response = await client.post(
            "/readings", content=text, headers={"content-type": "application/json"}
        )
        assert_problem(response, 422)
        many = [{"sensor": OIL, "ts": 1_700_000_000 + i, "value": 1} for i in range(4)]
        assert_problem(await client.post("/readings", json={"readings": many}), 413)
        after = await scrape(client)
    name = "shopfloor_readings_rejected_total"
    assert value(after, name, reason="invalid") - value(before, name, reason="invalid") == 2
    assert value(after, name, reason="too_large") - value(before, name, reason="too_large") == 4
    ingested = "shopfloor_readings_ingested_total"
    assert value(after, ingested) == value(before, ingested)


async def test_request_durations_are_recorded_by_route_template(client, plant):
    series = "shopfloor_http_request_duration_seconds_count"
    ok = {"method": "GET", "route": "/api/v1/sensors/{sensor_id}", "status": "200"}
    missing = {"method": "GET", "route": "/api/v1/sensors/{sensor_id}", "status": "404"}
    api_live = {"method": "GET", "route": "/api/v1/health/live", "status": "200"}
    root_live = {"method": "GET", "route": "/health/live", "status": "200"}
    before = await scrape(client)
    for sensor_id in plant.values():
        assert (await client.get(f"/sensors/{sensor_id}")).status_code == 200
    assert (await client.get("/sensors/99999")).status_code == 404
    assert (await client.get("/health/live")).status_code == 200
    for _ in range(3):
        assert (await client.get(f"{ROOT}/health/live")).status_code == 200
    after = await scrape(client)

    def grew(labels):
        return value(after, series, **labels) - value(before, series, **labels)

    assert (grew(ok), grew(missing), grew(api_live), grew(root_live)) == (2, 1, 1, 3)
    bucket = "shopfloor_http_request_duration_seconds_bucket"
    assert value(after, bucket, le="+Inf", **ok) == value(after, series, **ok)
    scrapes = {"method": "GET", "route": "/metrics", "status": "200"}
    assert value(after, series, **scrapes) >= 1


async def test_every_response_carries_a_request_id(client, plant):
    responses = [
        await client.get(f"{ROOT}/health/live"),
        await client.get("/assets"),
        await client.post("/assets", json={"path": "zeta", "kind": "site"}),
        await client.get("/assets/99999"),
        await client.post("/assets", json={"path": "Bad"}),
        await client.put("/readings"),
        await client.get("/no/such/route"),
        await client.get(f"{ROOT}/metrics"),
    ]
    ids = [response.headers.get("x-request-id") for response in responses]
    assert all(ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_client_request_id_is_echoed(client):
    for method, url in [("GET", "/health/live"), ("GET", "/assets/12345"), ("DELETE", "/assets")]:
        response = await client.request(method, url, headers={"X-Request-ID": "req-abc-123"})
        assert response.headers["x-request-id"] == "req-abc-123"
