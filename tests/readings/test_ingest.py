"""POST /readings: both forms, times, duplicates, all-or-nothing validation, limits."""

import json

from tests.core.helpers import assert_problem, client_for, error_locs

OIL = "acme/press-line/press-1/oil-temp"
VIB = "acme/press-line/press-1/vibration"
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


async def stored(client, sensor_id, **params):
    response = await client.get(
        f"/sensors/{sensor_id}/readings", params={"limit": 10_000, **params}
    )
    assert response.status_code == 200, response.text
    return [(item["ts"], item["value"]) for item in response.json()["items"]]


async def post_raw(client, text):
    """Post a body as text, exactly as a client that writes NaN literals sends it."""
    return await client.post(
        "/readings", content=text.encode(), headers={"content-type": "application/json"}
    )


async def test_rows_with_epoch_and_rfc3339_times(client, plant):
    readings = [
        {"sensor": OIL, "ts": T0, "value": 40},
        {"sensor": OIL, "ts": "2024-03-01T12:00:00Z", "value": 41.5},
        {"sensor": OIL, "ts": "2024-03-01T12:00:00+02:00", "value": -3.25},
        {"sensor": VIB, "ts": T0 + 0.25, "value": 1e-3},
    ]
    response = await client.post("/readings", json={"readings": readings})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 4, "duplicates": 0}
    assert await stored(client, plant[OIL]) == [
        ("2023-11-14T22:13:20Z", 40.0),
        ("2024-03-01T10:00:00Z", -3.25),
        ("2024-03-01T12:00:00Z", 41.5),
    ]
    assert await stored(client, plant[VIB]) == [("2023-11-14T22:13:20.250Z", 0.001)]


async def test_series_form(client, plant):
    body = {
        "series": [
            {"sensor": OIL, "ts": [T0, T0 + 1, "2023-11-14T22:13:22Z"], "values": [1, 2.5, 3]},
            {"sensor": VIB, "ts": ["2023-11-15T00:13:20+02:00"], "values": [7]},
            {"sensor": VIB, "ts": [], "values": []},
        ]
    }
    response = await client.post("/readings", json=body)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 4, "duplicates": 0}
    assert await stored(client, plant[OIL]) == [
        ("2023-11-14T22:13:20Z", 1.0),
        ("2023-11-14T22:13:21Z", 2.5),
        ("2023-11-14T22:13:22Z", 3.0),
    ]
    assert await stored(client, plant[VIB]) == [("2023-11-14T22:13:20Z", 7.0)]


async def test_an_empty_batch_is_accepted(client, plant):
    for body in ({"readings": []}, {"series": []}):
        response = await client.post("/readings", json=body)
        assert response.status_code == 202
        assert response.json() == {"accepted": 0, "duplicates": 0}


async def test_resent_readings_are_duplicates_and_the_first_value_stays(client, plant):
    batch = [{"sensor": OIL, "ts": T0 + i, "value": float(i)} for i in range(3)]
    first = await client.post("/readings", json={"readings": batch})
    assert first.json() == {"accepted": 3, "duplicates": 0}

    changed = [dict(item, value=99.0) for item in batch]
    again = [*changed, {"sensor": OIL, "ts": T0 + 3, "value": 3.0}]
    response = await client.post("/readings", json={"readings": again})
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 3}
    values = [value for _, value in await stored(client, plant[OIL])]
    assert values == [0.0, 1.0, 2.0, 3.0]

    series = {"series": [{"sensor": OIL, "ts": [T0, T0 + 4], "values": [5, 4]}]}
    assert (await client.post("/readings", json=series)).json() == {"accepted": 1, "duplicates": 1}


async def test_duplicates_within_one_batch(client, plant):
    readings = [
        {"sensor": OIL, "ts": T0, "value": 1},
        {"sensor": OIL, "ts": T0, "value": 2},
        {"sensor": OIL, "ts": "2023-11-14T22:13:20Z", "value": 3},
        {"sensor": OIL, "ts": "2023-11-15T00:13:20+02:00", "value": 4},
        {"sensor": VIB, "ts": T0, "value": 5},
        {"sensor": OIL, "ts": T0 + 1, "value": 6},
    ]
    response = await client.post("/readings", json={"readings": readings})
    assert response.json() == {"accepted": 3, "duplicates": 3}
    oil = await stored(client, plant[OIL])
    assert [ts for ts, _ in oil] == ["2023-11-14T22:13:20Z", "2023-11-14T22:13:21Z"]
    assert oil[0][1] in {1.0, 2.0, 3.0, 4.0}
    assert await stored(client, plant[VIB]) == [("2023-11-14T22:13:20Z", 5.0)]


async def assert_nothing_stored(client, plant):
    for sensor_id in plant.values():
        assert await stored(client, sensor_id) == []
    latest = await client.get("/readings/latest", params={"under": "acme"})
    assert latest.json()["items"] == []


async def test_a_batch_with_bad_items_names_each_and_stores_nothing(client, plant):
    readings = [
        {"sensor": OIL, "ts": T0, "value": 1.0},
        {"sensor": OIL, "ts": T0 + 1, "value": float("nan")},
        {"sensor": VIB, "ts": T0, "value": 2.0},
        {"sensor": "acme/press-line/press-1/ghost", "ts": T0, "value": 3.0},
        {"sensor": VIB, "ts": "2023-13-45T99:00:00Z", "value": 4.0},
        {"sensor": OIL, "ts": T0 + 2, "value": 5.0},
    ]
    text = json.dumps({"readings": readings})
    assert "NaN" in text
    body = assert_problem(await post_raw(client, text), 422, "validation-error")
    assert {error["index"] for error in body["errors"]} == {1, 3, 4}
    assert sorted(error_locs(body)) == [
        ["readings", 1, "value"],
        ["readings", 3, "sensor"],
        ["readings", 4, "ts"],
    ]
    assert "ghost" in json.dumps(body["errors"])
    await assert_nothing_stored(client, plant)


async def test_a_series_batch_with_bad_items_names_series_and_position(client, plant):
    body = {
        "series": [
            {"sensor": OIL, "ts": [T0, "not a time", T0 + 2], "values": [1.0, 2.0, float("inf")]},
            {"sensor": "acme/press-line/press-1/ghost", "ts": [T0], "values": [5.0]},
            {"sensor": VIB, "ts": [T0, T0 + 1], "values": [6.0, float("-inf")]},
        ]
    }
    text = json.dumps(body)
    assert "Infinity" in text
    problem = assert_problem(await post_raw(client, text), 422)
    assert sorted(error_locs(problem)) == [
        ["series", 0, "ts", 1],
        ["series", 0, "values", 2],
        ["series", 1, "sensor"],
        ["series", 2, "values", 1],
    ]
    await assert_nothing_stored(client, plant)


async def test_values_that_are_not_numbers_are_422(client, plant):
    bad = ["12.5", True, None, [1], {"v": 1}]
    readings = [{"sensor": OIL, "ts": T0 + i, "value": value} for i, value in enumerate(bad)]
    readings.append({"sensor": OIL, "ts": T0 + 9})
    readings.append({"sensor": OIL, "ts": T0 + 10, "value": 10**400})
    problem = assert_problem(await post_raw(client, json.dumps({"readings": readings})), 422)
    assert error_locs(problem) == [["readings", i, "value"] for i in range(7)]
    series = {"series": [{"sensor": OIL, "ts": [T0], "values": [False]}]}
    problem = assert_problem(await client.post("/readings", json=series), 422)
    assert error_locs(problem) == [["series", 0, "values", 0]]
    await assert_nothing_stored(client, plant)


async def test_bad_times_are_422(client, plant):
    bad = ["2024-02-30T00:00:00Z", "", "yesterday", True, None, -1, 5_000_000_000, 1.7e12]
    readings = [{"sensor": OIL, "ts": ts, "value": 1.0} for ts in bad]
    response = await client.post("/readings", json={"readings": readings})
    problem = assert_problem(response, 422)
    assert error_locs(problem) == [["readings", i, "ts"] for i in range(len(bad))]
    await assert_nothing_stored(client, plant)


async def test_bad_sensor_names_are_422(client, plant):
    readings = [
        {"sensor": "Acme/Press", "ts": T0, "value": 1},
        {"sensor": 7, "ts": T0, "value": 1},
        {"ts": T0, "value": 1},
        {"sensor": "acme/press-line/press-1/ghost", "ts": T0, "value": 1},
    ]
    problem = assert_problem(await client.post("/readings", json={"readings": readings}), 422)
    assert error_locs(problem) == [["readings", i, "sensor"] for i in range(4)]


async def test_malformed_json_is_400(client, plant):
    for text in ('{"readings": [', "", "{'readings': []}", '{"readings": [] } extra'):
        response = await post_raw(client, text)
        assert_problem(response, 400, "malformed-body")
    await assert_nothing_stored(client, plant)


async def test_a_body_of_the_wrong_shape_is_422(client, plant):
    shapes = [
        [],
        "readings",
        5,
        {},
        {"readings": [], "series": []},
        {"readings": {"sensor": OIL}},
        {"series": "x"},
        {"readings": [{"sensor": OIL, "ts": T0, "value": 1}, 5]},
        {"series": [{"sensor": OIL, "ts": [T0, T0 + 1], "values": [1]}]},
        {"series": [{"sensor": OIL, "ts": T0, "values": 1}]},
    ]
    for shape in shapes:
        response = await client.post("/readings", json=shape)
        assert_problem(response, 422)
    await assert_nothing_stored(client, plant)


async def test_too_many_readings_is_413_and_stores_nothing(settings, plant):
    async with client_for(settings, max_readings_per_request=10) as client:
        rows = [{"sensor": OIL, "ts": T0 + i, "value": i} for i in range(11)]
        assert_problem(await client.post("/readings", json={"readings": rows}), 413)
        series = {
            "series": [{"sensor": VIB, "ts": [T0 + i for i in range(11)], "values": [0] * 11}]
        }
        assert_problem(await client.post("/readings", json=series), 413)
        await assert_nothing_stored(client, plant)

        response = await client.post("/readings", json={"readings": rows[:10]})
        assert response.json() == {"accepted": 10, "duplicates": 0}


async def test_a_body_over_the_byte_limit_is_413(settings, plant):
    rows = [{"sensor": OIL, "ts": T0 + i, "value": i} for i in range(100)]
    text = json.dumps({"readings": rows})
    async with client_for(settings, max_body_bytes=len(text) - 1) as client:
        assert_problem(await post_raw(client, text), 413, "payload-too-large")

        async def chunks():
            for start in range(0, len(text), 512):
                yield text[start : start + 512].encode()

        response = await client.post(
            "/readings", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(response, 413, "payload-too-large")
        await assert_nothing_stored(client, plant)
        assert (await post_raw(client, json.dumps({"readings": rows[:99]}))).status_code == 202


async def test_auto_register_creates_sensor_and_missing_assets(settings):
    path = "plant9/hall/line-a/cell-2/robot-7/torque"
    async with client_for(settings, auto_register=True) as client:
        response = await client.post(
            "/readings",
            json={
                "readings": [
                    {"sensor": path, "ts": T0, "value": 12.5},
                    {"sensor": path, "ts": T0 + 1, "value": 13},
                ]
            },
        )
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 2, "duplicates": 0}

        assets = (await client.get("/assets", params={"under": "plant9"})).json()["items"]
        assert [(a["path"], a["kind"]) for a in assets] == [
            ("plant9", "site"),
            ("plant9/hall", "area"),
            ("plant9/hall/line-a", "line"),
            ("plant9/hall/line-a/cell-2", "cell"),
            ("plant9/hall/line-a/cell-2/robot-7", "machine"),
        ]
        sensors = (await client.get("/sensors", params={"under": "plant9"})).json()["items"]
        assert [s["path"] for s in sensors] == [path]
        assert sensors[0]["asset_id"] == assets[-1]["id"]
        assert await stored(client, sensors[0]["id"]) == [
            ("2023-11-14T22:13:20Z", 12.5),
            ("2023-11-14T22:13:21Z", 13.0),
        ]
        again = await client.post(
            "/readings", json={"readings": [{"sensor": path, "ts": T0, "value": 1}]}
        )
        assert again.json() == {"accepted": 0, "duplicates": 1}


async def test_auto_register_under_existing_assets(settings, plant):
    async with client_for(settings, auto_register=True) as client:
        path = "acme/press-line/press-1/current"
        readings = [{"sensor": path, "ts": T0, "value": 1}, {"sensor": OIL, "ts": T0, "value": 2}]
        response = await client.post("/readings", json={"readings": readings})
        assert response.json() == {"accepted": 2, "duplicates": 0}
        sensors = (await client.get("/sensors", params={"under": "acme"})).json()["items"]
        assert sorted(s["path"] for s in sensors) == sorted([*plant, path])
        assets = (await client.get("/assets", params={"under": "acme"})).json()["items"]
        assert len(assets) == 3


async def test_auto_register_does_not_register_from_a_refused_batch(settings, plant):
    async with client_for(settings, auto_register=True) as client:
        readings = [
            {"sensor": "newsite/hall/m1/temp", "ts": T0, "value": 1.0},
            {"sensor": OIL, "ts": T0, "value": float("nan")},
        ]
        response = await post_raw(client, json.dumps({"readings": readings}))
        assert error_locs(assert_problem(response, 422)) == [["readings", 1, "value"]]
        assert (await client.get("/sensors", params={"under": "newsite"})).json()["items"] == []
        assert (await client.get("/assets", params={"under": "newsite"})).json()["items"] == []
        await assert_nothing_stored(client, plant)


async def test_auto_register_refuses_a_sensor_without_an_asset(settings, plant):
    async with client_for(settings, auto_register=True) as client:
        readings = [
            {"sensor": OIL, "ts": T0, "value": 1.0},
            {"sensor": "loner", "ts": T0, "value": 2},
        ]
        assert_problem(await client.post("/readings", json={"readings": readings}), 422)
        await assert_nothing_stored(client, plant)
        assert (await client.get("/sensors", params={"under": "loner"})).json()["items"] == []
