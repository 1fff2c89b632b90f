"""User management through the API (as the admin), and what a key or a non-admin may do."""

from __future__ import annotations

import pytest

from shopfloor.auth import apikeys
from tests.auth.helpers import (
    PASSWORD,
    anonymous,
    bearer,
    make_user,
    tokens_of,
)
from tests.core.helpers import assert_problem, error_locs

NEW = {"username": "jane.doe", "password": PASSWORD, "role": "quality_manager"}
FIELDS = {
    "id",
    "username",
    "role",
    "email",
    "active",
    "totp_enabled",
    "created_at",
    "updated_at",
    "password_changed_at",
    "last_login_at",
}


async def create(client, **fields) -> dict:
    response = await client.post("/users", json={**NEW, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_read_list_and_delete_a_user(app, client):
    user = await create(client, email="jane@example.com")
    assert set(user) == FIELDS
    assert (user["username"], user["role"], user["email"]) == (
        "jane.doe",
        "quality_manager",
        "jane@example.com",
    )
    assert (user["active"], user["totp_enabled"], user["last_login_at"]) == (True, False, None)
    assert (await client.get(f"/users/{user['id']}")).json() == user
    listed = (await client.get("/users")).json()
    assert [item["username"] for item in listed["items"]] == ["admin", "jane.doe"]
    assert listed["next_cursor"] is None
    assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    assert_problem(await client.get(f"/users/{user['id']}"), 404)


async def test_the_new_user_can_sign_in(app, client):
    await create(client)
    async with anonymous(app) as http:
        token = (await tokens_of(http, "jane.doe"))["access_token"]
        me = (await http.get("/auth/me", headers=bearer(token))).json()
    assert (me["name"], me["role"]) == ("jane.doe", "quality_manager")


async def test_the_list_pages_with_cursors(client):
    for index in range(3):
        await create(client, username=f"user-{index}")
    names, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/users", params=params)).json()
        names += [item["username"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert names == ["admin", "user-0", "user-1", "user-2"]
    assert_problem(await client.get("/users", params={"cursor": "garbage!"}), 400)


async def test_a_taken_name_is_409(client):
    await create(client)
    assert_problem(await client.post("/users", json=NEW), 409, "already-exists")


async def test_bad_fields_are_422_each_named(client):
    body = {"username": "Jane Doe", "password": PASSWORD, "role": "king", "email": "no", "x": 1}
    problem = assert_problem(await client.post("/users", json=body), 422)
    assert sorted(error_locs(problem)) == [["email"], ["role"], ["username"], ["x"]]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("too-short", "at least 12 characters"),
        ("qwertyuiop123", "most common passwords"),
        ("i-am-jane.doe-ok", "user name"),
    ],
)
async def test_the_password_policy_applies(client, password, message):
    problem = assert_problem(await client.post("/users", json={**NEW, "password": password}), 422)
    assert error_locs(problem) == [["password"]]
    assert message in problem["errors"][0]["msg"]


async def test_an_idempotency_key_replays_the_creation(client):
    headers = {"Idempotency-Key": "create-jane"}
    first = await client.post("/users", json=NEW, headers=headers)
    again = await client.post("/users", json=NEW, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = {**NEW, "password": "another-unusual-passphrase"}
    assert_problem(await client.post("/users", json=other, headers=headers), 422)


async def test_patch_changes_only_what_is_sent(client):
    user = await create(client, email="jane@example.com")
    response = await client.patch(f"/users/{user['id']}", json={"role": "viewer"})
    assert (response.json()["role"], response.json()["email"]) == ("viewer", "jane@example.com")
    response = await client.patch(f"/users/{user['id']}", json={"email": None})
    assert response.json()["email"] is None
    for bad in ({"role": None}, {"active": None}, {"role": "king"}, {"username": "renamed"}):
        assert_problem(await client.patch(f"/users/{user['id']}", json=bad), 422)
    weak = await client.patch(f"/users/{user['id']}", json={"password": "qwertyuiop123"})
    assert error_locs(assert_problem(weak, 422)) == [["password"]]


async def test_the_last_active_admin_stays(client):
    for change in ({"role": "viewer"}, {"active": False}):
        assert_problem(await client.patch("/users/1", json=change), 409)
    assert_problem(await client.delete("/users/1"), 409)
    second = await create(client, username="second-admin", role="admin")
    assert (await client.patch("/users/1", json={"email": "a@example.com"})).status_code == 200
    assert (await client.patch(f"/users/{second['id']}", json={"active": False})).status_code == 200
    assert_problem(await client.delete("/users/1"), 409)  # the other admin is inactive


async def test_unknown_ids_are_404(client):
    for user_id in (0, 999, 2**40):
        assert_problem(await client.get(f"/users/{user_id}"), 404)
        assert_problem(await client.delete(f"/users/{user_id}"), 404)


async def test_only_admins_manage_users(app):
    await make_user(app, "olga", role="operator")
    async with anonymous(app) as http:
        token = (await tokens_of(http, "olga"))["access_token"]
        assert_problem(await http.get("/users", headers=bearer(token)), 403)
        assert_problem(await http.post("/users", json=NEW, headers=bearer(token)), 403)
        assert_problem(await http.get("/users"), 401)


async def test_an_api_key_is_shown_as_a_key_and_has_no_password(app):
    async with app.state.db.write() as session:
        _, raw_key = await apikeys.create_api_key(
            session, name="gateway", scopes=["ingest"], created_by="test"
        )
    async with anonymous(app) as http:
        me = await http.get("/auth/me", headers={"X-API-Key": raw_key})
        assert me.json() == {
            "kind": "api_key",
            "id": me.json()["id"],
            "name": "gateway",
            "role": None,
            "scopes": ["ingest"],
            "user": None,
        }
        change = {"current_password": PASSWORD, "new_password": "another-unusual-passphrase"}
        response = await http.post("/auth/password", json=change, headers={"X-API-Key": raw_key})
        assert_problem(response, 403)
        assert_problem(await http.get("/auth/me", headers={"X-API-Key": "sf_nope"}), 401)


async def test_swagger_signs_in_with_the_password_flow(app):
    async with anonymous(app) as http:
        document = (await http.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    flows = [s["flows"] for s in schemes.values() if s["type"] == "oauth2"]
    assert flows == [{"password": {"scopes": {}, "tokenUrl": "/api/v1/auth/token"}}]
    form = document["paths"]["/api/v1/auth/token"]["post"]["requestBody"]["content"]
    schema_ref = form["application/x-www-form-urlencoded"]["schema"]["$ref"]
    fields = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]["properties"]
    assert {"username", "password", "totp", "grant_type"} <= set(fields)
    refresh = document["paths"]["/api/v1/auth/refresh"]["post"]["requestBody"]["content"]
    assert set(refresh) == {"application/json", "application/x-www-form-urlencoded"}
