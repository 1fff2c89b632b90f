"""API conventions: problem+json errors, 404/405, cursors, Idempotency-Key, body limits."""

import base64
import json

from tests.core.helpers import assert_problem, client_for, error_locs


async def test_unknown_routes_are_404_problems(client):
    for url in ("/nowhere", "/assets/1/children", "http://test/nowhere", "http://test/api/v2/x"):
        response = await client.get(url)
        body = assert_problem(response, 404, "not-found")
        assert body["instance"] == response.request.url.path


async def test_wrong_methods_are_405_problems_naming_the_allowed_ones(client):
    for method, url, allowed in [
        ("PUT", "/readings", {"POST"}),
        ("DELETE", "/assets", {"GET", "POST"}),
        ("POST", "/assets/1", {"GET", "PATCH", "DELETE"}),
        ("POST", "/health/live", {"GET"}),
    ]:
        response = await client.request(method, url)
        body = assert_problem(response, 405, "method-not-allowed")
        assert method in body["detail"]
        assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}


async def test_malformed_json_is_a_400_problem(client):
    response = await client.post(
        "/assets", content=b'{"path": "acme",', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed-body")
    assert (await client.get("/assets")).json()["items"] == []


async def test_validation_errors_list_every_bad_field(client):
    response = await client.post(
        "/assets", json={"path": "Acme", "kind": "planet", "name": "x" * 201, "colour": "red"}
    )
    body = assert_problem(response, 422, "validation-error")
    assert sorted(error_locs(body)) == [["colour"], ["kind"], ["name"], ["path"]]
    assert all(error["msg"] for error in body["errors"])


async def test_client_mistakes_that_reach_the_database_are_not_500(client, plant):
    for url in ("/assets/99999999999", "/sensors/99999999999", "/sensors/99999999999/readings"):
        assert_problem(await client.get(url), 404, "not-found")
    long_path = "acme/" + "x" * 251
    response = await client.post("/assets", json={"path": long_path, "kind": "area"})
    assert ["path"] in error_locs(assert_problem(response, 422))
    response = await client.post("/sensors", json={"path": "acme/press-line/press-1/" + "y" * 240})
    assert ["path"] in error_locs(assert_problem(response, 422))


def cursor_of(key):
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


async def test_bad_limits_and_cursors_are_client_errors(client, plant):
    for url in ("/assets", "/sensors"):
        assert_problem(await client.get(url, params={"limit": 0}), 422)
        assert_problem(await client.get(url, params={"limit": 1001}), 422)
        assert_problem(await client.get(url, params={"cursor": "not a cursor!"}), 400)
        # A cursor of another list (a reading's timestamp) is refused, not misread.
        for foreign in (1_700_000_000_000_000, ["acme"], {"path": "acme"}):
            response = await client.get(url, params={"cursor": cursor_of(foreign)})
            assert_problem(response, 400, "bad-request")
    response = await client.get(f"/sensors/{min(plant.values())}/readings", params={"cursor": "%%"})
    assert_problem(response, 400)


async def test_idempotency_key_replays_the_first_response(client):
    headers = {"Idempotency-Key": "create-acme-1"}
    body = {"path": "acme", "kind": "site", "attributes": {"city": "Lyon"}}
    first = await client.post("/assets", json=body, headers=headers)
    assert first.status_code == 201
    again = await client.post("/assets", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers

    items = (await client.get("/assets")).json()["items"]
    assert [item["id"] for item in items] == [first.json()["id"]]
    # Without the key the same request is a new create, which now conflicts.
    assert_problem(await client.post("/assets", json=body), 409)


async def test_idempotency_key_with_another_body_is_422(client):
    headers = {"Idempotency-Key": "k-42"}
    first = await client.post("/assets", json={"path": "acme", "kind": "site"}, headers=headers)
    assert first.status_code == 201
    response = await client.post("/assets", json={"path": "other", "kind": "site"}, headers=headers)
    assert "k-42" in assert_problem(response, 422, "idempotency-key-reused")["detail"]
    assert [item["path"] for item in (await client.get("/assets")).json()["items"]] == ["acme"]


async def test_idempotency_keys_are_per_endpoint_and_bounded(client, plant):
    headers = {"Idempotency-Key": "same-key"}
    asset = await client.post(
        "/assets", json={"path": "acme/paint", "kind": "area"}, headers=headers
    )
    sensor = await client.post(
        "/sensors", json={"path": "acme/paint/humidity", "unit": "%"}, headers=headers
    )
    assert (asset.status_code, sensor.status_code) == (201, 201)
    replay = await client.post(
        "/sensors", json={"path": "acme/paint/humidity", "unit": "%"}, headers=headers
    )
    assert replay.json() == sensor.json()
    paths = [item["path"] for item in (await client.get("/sensors")).json()["items"]]
    assert paths.count("acme/paint/humidity") == 1

    too_long = {"Idempotency-Key": "k" * 201}
    response = await client.post("/assets", json={"path": "zeta", "kind": "site"}, headers=too_long)
    assert_problem(response, 400)
    assert "zeta" not in [item["path"] for item in (await client.get("/assets")).json()["items"]]


async def test_a_failed_create_does_not_use_up_its_key(client):
    headers = {"Idempotency-Key": "retry-me"}
    body = {"path": "acme/line-1", "kind": "line"}
    assert_problem(await client.post("/assets", json=body, headers=headers), 422)
    assert (await client.post("/assets", json={"path": "acme", "kind": "site"})).status_code == 201
    response = await client.post("/assets", json=body, headers=headers)
    assert response.status_code == 201, response.text


async def test_bodies_over_the_limit_are_413_problems(settings):
    limit = 400
    big = {"path": "acme", "kind": "site", "attributes": {"note": "x" * limit}}
    text = json.dumps(big).encode()

    async def chunks():
        for start in range(0, len(text), 100):
            yield text[start : start + 100]

    async with client_for(settings, max_body_bytes=limit) as client:
        headers = {"content-type": "application/json", "x-request-id": "big-1"}
        declared = await client.post("/assets", content=text, headers=headers)
        # Without a Content-Length the limit applies while the body streams in.
        streamed = await client.post("/assets", content=chunks(), headers=headers)
        for response in (declared, streamed):
            problem = assert_problem(response, 413, "payload-too-large")
            assert "400" in problem["detail"]
            assert problem["title"] == "Payload too large"
            assert response.headers["x-request-id"] == "big-1"
        assert (await client.get("/assets")).json()["items"] == []

        response = await client.post("/assets", json={"path": "acme", "kind": "site"})
        assert response.status_code == 201
