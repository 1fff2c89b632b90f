"""Assets: the ISA-95 tree, created by path, listed under a path, addressed by id."""

from datetime import UTC, datetime, timedelta

from tests.core.helpers import assert_problem, error_locs

ASSET_FIELDS = {"id", "path", "kind", "name", "attributes", "created_at"}


async def create(client, path, kind, **fields):
    response = await client.post("/assets", json={"path": path, "kind": kind, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def all_paths(client, **params):
    response = await client.get("/assets", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [item["path"] for item in response.json()["items"]]


async def test_create_returns_the_asset_and_get_reads_it_back(client):
    response = await client.post(
        "/assets",
        json={"path": "acme", "kind": "site", "name": "ACME Works", "attributes": {"city": "Lyon"}},
    )
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset.keys() >= ASSET_FIELDS
    assert isinstance(asset["id"], int)
    assert (asset["path"], asset["kind"], asset["name"]) == ("acme", "site", "ACME Works")
    assert asset["attributes"] == {"city": "Lyon"}
    created = datetime.fromisoformat(asset["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)

    fetched = await client.get(f"/assets/{asset['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == asset


async def test_name_defaults_to_the_last_segment(client):
    await create(client, "acme", "site")
    asset = await create(client, "acme/press-line", "line")
    assert asset["name"] == "press-line"
    assert asset["attributes"] == {}


async def test_parent_must_exist(client):
    response = await client.post("/assets", json={"path": "acme/press-line", "kind": "line"})
    body = assert_problem(response, 422)
    assert ["path"] in error_locs(body)
    assert "acme" in body["errors"][0]["msg"]
    assert await all_paths(client) == []


BAD_PATHS = {
    "upper case": "Acme",
    "empty segment": "acme//line",
    "nine segments": "/".join(["a"] * 9),
    "empty": "",
    "trailing slash": "acme/",
    "leading slash": "/acme",
    "space": "acme/line 1",
    "dot": "acme.line",
}


async def test_bad_paths_are_422_naming_the_path(client):
    for case, path in BAD_PATHS.items():
        response = await client.post("/assets", json={"path": path, "kind": "site"})
        body = assert_problem(response, 422)
        assert ["path"] in error_locs(body), case
    assert await all_paths(client) == []


async def test_eight_segments_is_the_deepest_path(client):
    kinds = ["site", "area", "line", "cell", "machine", "machine", "machine", "machine"]
    segments = [f"s{depth}" for depth in range(1, 10)]
    for depth, kind in enumerate(kinds, start=1):
        await create(client, "/".join(segments[:depth]), kind)
    response = await client.post("/assets", json={"path": "/".join(segments), "kind": "machine"})
    body = assert_problem(response, 422)
    assert ["path"] in error_locs(body)
    assert len(await all_paths(client)) == 8


async def test_missing_fields_and_unknown_kind_are_422(client):
    body = assert_problem(await client.post("/assets", json={}), 422)
    assert ["path"] in error_locs(body) and ["kind"] in error_locs(body)
    body = assert_problem(await client.post("/assets", json={"path": "a", "kind": "planet"}), 422)
    assert ["kind"] in error_locs(body)


async def test_a_kind_above_its_parent_is_422(client):
    await create(client, "acme", "site")
    await create(client, "acme/press-1", "machine")
    response = await client.post("/assets", json={"path": "acme/press-1/hall", "kind": "area"})
    assert ["kind"] in error_locs(assert_problem(response, 422))


async def test_duplicate_path_is_409(client):
    first = await create(client, "acme", "site")
    response = await client.post("/assets", json={"path": "acme", "kind": "site"})
    assert_problem(response, 409)
    assert (await client.get(f"/assets/{first['id']}")).json() == first
    assert await all_paths(client) == ["acme"]


async def test_a_sensor_path_cannot_become_an_asset(client, plant):
    response = await client.post(
        "/assets", json={"path": "acme/press-line/press-1/oil-temp", "kind": "machine"}
    )
    assert_problem(response, 409)


async def test_list_under_returns_the_subtree_only(client):
    for path, kind in [
        ("acme", "site"),
        ("acme/press-line", "line"),
        ("acme/press-line/press-1", "machine"),
        ("acme/press-line/press-1/head", "machine"),
        ("acme/press-line-2", "line"),
        ("acme/press-line_b", "line"),
        ("acme/paint", "area"),
        ("other", "site"),
    ]:
        await create(client, path, kind)
    assert await all_paths(client, under="acme/press-line") == [
        "acme/press-line",
        "acme/press-line/press-1",
        "acme/press-line/press-1/head",
    ]
    assert await all_paths(client, under="acme/press-line/press-1/head") == [
        "acme/press-line/press-1/head"
    ]
    assert len(await all_paths(client, under="acme")) == 7
    assert len(await all_paths(client)) == 8
    assert await all_paths(client, under="nowhere") == []
    response = await client.get("/assets", params={"under": "Acme"})
    assert ["query", "under"] in error_locs(assert_problem(response, 422))


async def walk(client, url, **params):
    """Every page of a list, following next_cursor; returns the pages' items."""
    pages, cursor = [], None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = await client.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not end"


async def test_pagination_walks_every_asset_once(client):
    await create(client, "acme", "site")
    await create(client, "zeta", "site")
    for n in range(22):
        await create(client, f"acme/m-{n:02d}", "machine")
    expected = await all_paths(client, under="acme")
    assert len(expected) == 23

    pages = await walk(client, "/assets", under="acme", limit=5)
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    walked = [item["path"] for page in pages for item in page]
    assert walked == expected

    pages = await walk(client, "/assets", limit=8)
    assert [len(page) for page in pages] == [8, 8, 8]
    assert [item["path"] for page in pages for item in page] == [*expected, "zeta"]


async def test_a_full_last_page_has_no_cursor_and_no_empty_page(client):
    for name in ("a", "b", "c", "d"):
        await create(client, name, "site")
    pages = await walk(client, "/assets", limit=2)
    assert [[item["path"] for item in page] for page in pages] == [["a", "b"], ["c", "d"]]


async def test_patch_changes_name_and_attributes(client):
    asset = await create(client, "acme", "site", attributes={"city": "Lyon"})
    response = await client.patch(f"/assets/{asset['id']}", json={"name": "ACME"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "ACME"
    assert response.json()["attributes"] == {"city": "Lyon"}

    response = await client.patch(f"/assets/{asset['id']}", json={"attributes": {"shifts": 3}})
    assert response.status_code == 200
    fetched = (await client.get(f"/assets/{asset['id']}")).json()
    assert (fetched["name"], fetched["attributes"]) == ("ACME", {"shifts": 3})
    assert (fetched["path"], fetched["kind"], fetched["created_at"]) == (
        "acme",
        "site",
        asset["created_at"],
    )


async def test_patch_cannot_move_an_asset(client):
    asset = await create(client, "acme", "site")
    response = await client.patch(f"/assets/{asset['id']}", json={"path": "other"})
    assert ["path"] in error_locs(assert_problem(response, 422))
    assert (await client.get(f"/assets/{asset['id']}")).json()["path"] == "acme"


async def test_delete_removes_the_asset(client):
    asset = await create(client, "acme", "site")
    response = await client.delete(f"/assets/{asset['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/assets/{asset['id']}"), 404, "not-found")
    assert_problem(await client.delete(f"/assets/{asset['id']}"), 404)
    assert await all_paths(client) == []
    await create(client, "acme", "site")


async def asset_id(client, path):
    items = (await client.get("/assets", params={"under": path, "limit": 1})).json()["items"]
    assert items and items[0]["path"] == path
    return items[0]["id"]


async def test_an_asset_with_children_or_sensors_cannot_be_deleted(client, plant):
    machine = await asset_id(client, "acme/press-line/press-1")
    line = await asset_id(client, "acme/press-line")
    assert_problem(await client.delete(f"/assets/{machine}"), 409)
    assert_problem(await client.delete(f"/assets/{line}"), 409)
    assert len(await all_paths(client)) == 3

    for sensor_id in plant.values():
        assert (await client.delete(f"/sensors/{sensor_id}")).status_code == 204
    assert (await client.delete(f"/assets/{machine}")).status_code == 204
    assert (await client.delete(f"/assets/{line}")).status_code == 204
    assert await all_paths(client) == ["acme"]


async def test_unknown_asset_id_is_404(client):
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = await client.request(method, "/assets/987654", **kwargs)
        body = assert_problem(response, 404, "not-found")
        assert "987654" in body["detail"]


async def test_a_non_numeric_id_is_422(client):
    assert_problem(await client.get("/assets/press-1"), 422)
