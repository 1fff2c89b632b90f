"""Seeding the demo plant: the expected tree, and a second run changes nothing."""

from __future__ import annotations

from shopfloor.demo.plant import seed_plant


async def test_seeding_creates_the_plant_once(app, client):
    first = await seed_plant(app.state.db)
    second = await seed_plant(app.state.db)
    assert (first.assets_created, first.sensors_created) == (11, 31)
    assert (second.assets_created, second.sensors_created) == (0, 0)

    assets = (await client.get("/assets", params={"under": "acme", "limit": 100})).json()
    kinds = [a["kind"] for a in assets["items"]]
    assert (kinds.count("site"), kinds.count("area"), kinds.count("line")) == (1, 2, 2)
    assert kinds.count("machine") == 6

    sensors = (await client.get("/sensors", params={"under": "acme", "limit": 100})).json()
    assert len(sensors["items"]) == 31
    for sensor in sensors["items"]:
        assert sensor["unit"] and sensor["low_limit"] < sensor["high_limit"]
        assert sensor["sampling_interval_s"] == 1
    oil = next(s for s in sensors["items"] if s["path"].endswith("press-1/oil-temp"))
    assert oil["path"] == "acme/stamping/line-1/press-1/oil-temp"
    assert oil["unit"] == "degC"


async def test_seeding_keeps_what_a_user_changed(app, client):
    await seed_plant(app.state.db)
    sensors = (await client.get("/sensors", params={"under": "acme/assembly"})).json()["items"]
    edited = sensors[0]
    response = await client.patch(f"/sensors/{edited['id']}", json={"high_limit": 1e6})
    assert response.status_code == 200, response.text
    await seed_plant(app.state.db)
    assert (await client.get(f"/sensors/{edited['id']}")).json()["high_limit"] == 1e6
