"""Sensors: leaves of the plant tree, with limits; deleting one deletes its readings."""

from tests.core.helpers import assert_problem, error_locs

MACHINE = "acme/press-line/press-1"
OIL = f"{MACHINE}/oil-temp"
SENSOR_FIELDS = {
    "id",
    "path",
    "asset_id",
    "name",
    "unit",
    "low_limit",
    "high_limit",
    "sampling_interval_s",
    "detector",
    "created_at",
}


async def asset_id(client, path):
    items = (await client.get("/assets", params={"under": path, "limit": 1})).json()["items"]
    assert items and items[0]["path"] == path
    return items[0]["id"]


async def sensor_paths(client, **params):
    response = await client.get("/sensors", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [item["path"] for item in response.json()["items"]]


async def test_create_with_limits(client, plant):
    body = {
        "path": f"{MACHINE}/pressure",
        "unit": "bar",
        "low_limit": 1.5,
        "high_limit": 250,
        "sampling_interval_s": 0.5,
        "detector": "ewma",
    }
    response = await client.post("/sensors", json=body)
    assert response.status_code == 201, response.text
    sensor = response.json()
    assert sensor.keys() >= SENSOR_FIELDS
    assert {key: sensor[key] for key in body} == body
    assert sensor["name"] == "pressure"
    assert sensor["asset_id"] == await asset_id(client, MACHINE)
    assert (await client.get(f"/sensors/{sensor['id']}")).json() == sensor


async def test_limits_are_optional(client, plant):
    response = await client.post("/sensors", json={"path": f"{MACHINE}/count", "name": "Strokes"})
    assert response.status_code == 201, response.text
    sensor = response.json()
    assert sensor["name"] == "Strokes"
    assert sensor["low_limit"] is None and sensor["high_limit"] is None and sensor["unit"] is None


async def test_parent_must_be_an_existing_asset(client, plant):
    for path in ("lonely", "acme/nowhere/temp", f"{OIL}/inner"):
        response = await client.post("/sensors", json={"path": path})
        assert ["path"] in error_locs(assert_problem(response, 422)), path
    assert await sensor_paths(client) == sorted(plant)


async def test_bad_path_is_422(client, plant):
    response = await client.post("/sensors", json={"path": f"{MACHINE}/Oil Temp"})
    assert ["path"] in error_locs(assert_problem(response, 422))


async def test_low_limit_must_be_below_high_limit(client, plant):
    for low, high in [(10, 10), (50, 5)]:
        response = await client.post(
            "/sensors", json={"path": f"{MACHINE}/speed", "low_limit": low, "high_limit": high}
        )
        assert_problem(response, 422)
    assert f"{MACHINE}/speed" not in await sensor_paths(client)


async def test_sampling_interval_must_be_positive(client, plant):
    response = await client.post(
        "/sensors", json={"path": f"{MACHINE}/speed", "sampling_interval_s": 0}
    )
    assert ["sampling_interval_s"] in error_locs(assert_problem(response, 422))


async def test_duplicate_path_is_409(client, plant):
    assert_problem(await client.post("/sensors", json={"path": OIL}), 409)
    assert_problem(await client.post("/sensors", json={"path": "acme/press-line"}), 409)
    assert await sensor_paths(client) == sorted(plant)


async def test_list_under_a_path(client, plant):
    await client.post("/assets", json={"path": "acme/press-line/press-10", "kind": "machine"})
    response = await client.post("/sensors", json={"path": "acme/press-line/press-10/oil-temp"})
    assert response.status_code == 201

    assert await sensor_paths(client, under=MACHINE) == sorted(plant)
    assert await sensor_paths(client, under="acme/press-line/press-10") == [
        "acme/press-line/press-10/oil-temp"
    ]
    assert len(await sensor_paths(client, under="acme")) == 3
    assert await sensor_paths(client, under=OIL) == [OIL]
    assert_problem(await client.get("/sensors", params={"under": "a//b"}), 422)


async def test_list_pages_with_a_cursor(client, plant):
    for n in range(5):
        response = await client.post("/sensors", json={"path": f"{MACHINE}/t{n}"})
        assert response.status_code == 201
    expected = await sensor_paths(client)
    walked, cursor = [], None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/sensors", params=params)).json()
        assert len(body["items"]) <= 3
        walked += [item["path"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == expected and len(expected) == 7


async def test_patch_changes_unit_and_limits(client, plant):
    sensor_id = plant[OIL]
    response = await client.patch(
        f"/sensors/{sensor_id}", json={"unit": "K", "low_limit": 273, "high_limit": 400}
    )
    assert response.status_code == 200, response.text
    fetched = (await client.get(f"/sensors/{sensor_id}")).json()
    assert (fetched["unit"], fetched["low_limit"], fetched["high_limit"]) == ("K", 273, 400)
    assert fetched["path"] == OIL

    response = await client.patch(f"/sensors/{sensor_id}", json={"high_limit": None})
    assert response.status_code == 200
    assert response.json()["high_limit"] is None
    assert response.json()["low_limit"] == 273


async def test_patch_that_crosses_the_limits_is_422_and_changes_nothing(client, plant):
    sensor_id = plant[OIL]
    before = (await client.get(f"/sensors/{sensor_id}")).json()
    response = await client.patch(f"/sensors/{sensor_id}", json={"low_limit": 150, "unit": "K"})
    assert ["low_limit"] in error_locs(assert_problem(response, 422))
    assert (await client.get(f"/sensors/{sensor_id}")).json() == before


async def test_delete_removes_the_sensor_and_its_readings(client, plant):
    readings = [{"sensor": OIL, "ts": 1_700_000_000 + i, "value": float(i)} for i in range(5)]
    response = await client.post("/readings", json={"readings": readings})
    assert response.status_code == 202

    assert (await client.delete(f"/sensors/{plant[OIL]}")).status_code == 204
    assert_problem(await client.get(f"/sensors/{plant[OIL]}"), 404)
    assert_problem(await client.get(f"/sensors/{plant[OIL]}/readings"), 404)
    assert_problem(await client.delete(f"/sensors/{plant[OIL]}"), 404)
    latest = (await client.get("/readings/latest", params={"under": MACHINE})).json()["items"]
    assert [item["sensor"] for item in latest] == []
    # Readings for the deleted path are now refused: the sensor is unknown.
    response = await client.post("/readings", json={"readings": readings[:1]})
    assert_problem(response, 422)

    # A new sensor at the same path starts empty, whatever id it receives.
    response = await client.post("/sensors", json={"path": OIL})
    assert response.status_code == 201
    new_id = response.json()["id"]
    assert (await client.get(f"/sensors/{new_id}/readings")).json()["items"] == []
    hourly = await client.get(f"/sensors/{new_id}/readings", params={"every": "1h"})
    assert hourly.json()["items"] == []
    response = await client.post("/readings", json={"readings": readings})
    assert response.json() == {"accepted": 5, "duplicates": 0}


async def test_an_asset_can_be_deleted_once_its_sensors_are_gone(client, plant):
    machine = await asset_id(client, MACHINE)
    assert_problem(await client.delete(f"/assets/{machine}"), 409)
    for sensor_id in plant.values():
        assert (await client.delete(f"/sensors/{sensor_id}")).status_code == 204
    assert (await client.delete(f"/assets/{machine}")).status_code == 204


async def test_unknown_sensor_id_is_404(client):
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"unit": "K"}} if method == "PATCH" else {}
        response = await client.request(method, "/sensors/424242", **kwargs)
        assert "424242" in assert_problem(response, 404, "not-found")["detail"]
