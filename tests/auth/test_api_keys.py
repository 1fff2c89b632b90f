"""API keys: the key checks out only while it holds, is stored as a digest, and the admin API."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.engine import make_url

from shopfloor.auth.apikeys import (
    TOUCH_INTERVAL,
    create_api_key,
    get_api_key,
    revoke_api_key,
    verify_api_key,
)
from shopfloor.auth.models import ApiKey
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, ValidationFailed
from shopfloor.storage import Database
from tests.core.helpers import assert_problem, error_locs
from tests.fixtures.auth import ADMIN_NAME

KEY_FORMAT = re.compile(r"sf_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    yield database
    await database.dispose()


async def new_key(db, name="gateway-1", scopes=("ingest",), expires_at=None):
    async with db.write() as session:
        key, raw_key = await create_api_key(
            session, name=name, scopes=scopes, created_by="tester", expires_at=expires_at
        )
    return key, raw_key


async def stored(db, key_id):
    async with db.read() as session:
        return await get_api_key(session, key_id)


async def set_last_used(db, key_id, moment):
    async with db.write() as session:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=moment))


# --- the service ----------------------------------------------------------------------------


async def test_a_new_key_verifies_to_a_principal_with_its_scopes(db):
    key, raw_key = await new_key(db, "line-1.gateway", ["ingest", "read", "ingest"])
    assert KEY_FORMAT.fullmatch(raw_key)
    assert raw_key.startswith(f"sf_{key.prefix}_")

    principal = await verify_api_key(db, raw_key)

    assert principal is not None
    assert (principal.kind, principal.id, principal.name) == ("api_key", key.id, "line-1.gateway")
    assert principal.scopes == frozenset({"ingest", "read"})
    assert principal.actor == "key:line-1.gateway"
    assert (await stored(db, key.id)).scopes == ["ingest", "read"]


async def test_every_key_is_different(db):
    keys = [await new_key(db, f"k{i}") for i in range(20)]
    assert len({raw for _, raw in keys}) == len({key.prefix for key, _ in keys}) == 20


async def test_a_wrong_secret_behind_a_valid_prefix_is_refused(db):
    key, raw_key = await new_key(db)
    prefix = f"sf_{key.prefix}_"
    for wrong in (
        prefix + secrets.token_urlsafe(32),
        raw_key[:-1] + ("A" if raw_key[-1] != "A" else "B"),
        raw_key + "x",
        raw_key[:-10],
    ):
        assert await verify_api_key(db, wrong) is None, wrong
    assert await verify_api_key(db, raw_key) is not None


async def test_malformed_keys_are_refused_without_errors(db):
    _, raw_key = await new_key(db)
    secret = raw_key.split("_", 2)[2]
    for malformed in (
        "",
        " ",
        "sf",
        "sf_",
        "sf__",
        "sf_abcdefgh",
        "sf_abcdefgh_",
        f"sf_zzzzzzzz_{secret}",  # well-formed, but no such prefix
        f"sf_ABCDEFGH_{secret}",
        f"sf_abcdefg_{secret}",
        f"xx{raw_key[2:]}",
        raw_key.upper(),
        f" {raw_key}",
        f"{raw_key}\n",
        f"Bearer {raw_key}",
        raw_key.replace("_", "-", 1),
        raw_key[:-1] + "!",
        raw_key[:-1] + "é",
        raw_key + "\x00",
        "sf_abcdefgh_" + "a" * 100_000,
        "x" * 1_000_000,
    ):
        assert await verify_api_key(db, malformed) is None, malformed[:40]


async def test_a_revoked_key_is_refused_and_revoking_again_keeps_the_first_time(db):
    key, raw_key = await new_key(db)
    async with db.write() as session:
        first = (await revoke_api_key(session, key.id)).revoked_at
    assert first is not None
    assert await verify_api_key(db, raw_key) is None
    async with db.write() as session:
        again = (await revoke_api_key(session, key.id)).revoked_at
    assert again == first == (await stored(db, key.id)).revoked_at


async def test_a_key_holds_until_it_expires(db):
    expires_at = utcnow() + timedelta(seconds=2)
    key, raw_key = await new_key(db, expires_at=expires_at)
    assert (await stored(db, key.id)).expires_at == expires_at
    assert await verify_api_key(db, raw_key) is not None

    await asyncio.sleep((expires_at - utcnow()).total_seconds() + 0.1)

    assert await verify_api_key(db, raw_key) is None


async def test_bad_names_scopes_and_expiries_are_refused_field_by_field(db):
    past = utcnow() - timedelta(minutes=1)
    async with db.write() as session:
        with pytest.raises(ValidationFailed) as caught:
            await create_api_key(
                session,
                name="Gateway 1",
                scopes=["ingest", "admin"],
                created_by=None,
                expires_at=past,
            )
        with pytest.raises(ValidationFailed) as empty:
            await create_api_key(session, name="g", scopes=[], created_by=None)
    assert sorted(map(str, error_locs(vars(caught.value)))) == sorted(
        map(str, [["name"], ["scopes", 1], ["expires_at"]])
    )
    assert error_locs(vars(empty.value)) == [["scopes"]]


async def test_names_are_unique(db):
    await new_key(db, "gateway-1")
    async with db.write() as session:
        with pytest.raises(AlreadyExists):
            await create_api_key(session, name="gateway-1", scopes=["read"], created_by=None)


async def _every_row(database: Database) -> str:
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        rows = []
        for table in tables:
            result = await connection.execute(text(f'SELECT * FROM "{table}"'))
            rows.extend(repr(tuple(row)) for row in result)
    return "\n".join(rows)


async def test_the_raw_key_is_stored_nowhere(db, database_url):
    key, raw_key = await new_key(db)
    assert await verify_api_key(db, raw_key) is not None
    async with db.write() as session:
        await revoke_api_key(session, key.id)
    secret = raw_key.split("_", 2)[2]

    dump = await _every_row(db)

    assert key.prefix in dump  # the scan does see the key's row
    assert hashlib.sha256(raw_key.encode()).hexdigest() in dump
    assert secret not in dump and secret[:20] not in dump
    if database_url.startswith("sqlite"):  # the file itself, free pages and the WAL included
        path = Path(make_url(database_url).database)
        for part in (path, path.with_name(path.name + "-wal")):
            if part.exists():
                assert secret[:20].encode() not in part.read_bytes()


async def test_last_use_is_recorded_at_most_once_a_minute(db):
    key, raw_key = await new_key(db)
    assert (await stored(db, key.id)).last_used_at is None

    before = utcnow()
    await verify_api_key(db, raw_key)
    first = (await stored(db, key.id)).last_used_at
    assert first is not None and before <= first <= utcnow()

    for _ in range(3):
        assert await verify_api_key(db, raw_key) is not None
    assert (await stored(db, key.id)).last_used_at == first

    # A minute later (the record wound back rather than the test waiting) it is written again.
    await set_last_used(db, key.id, first - TOUCH_INTERVAL - timedelta(seconds=1))
    await verify_api_key(db, raw_key)
    assert (await stored(db, key.id)).last_used_at >= first


def _read_only(database_url: str, request: pytest.FixtureRequest) -> str:
    """The same database, opened so that every write fails."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite+aiosqlite:///file:{url.database}?mode=ro&uri=true"
    server = request.getfixturevalue("pg_server")
    server.psql(f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = on')
    return database_url


async def test_a_key_holds_even_when_its_last_use_cannot_be_written(db, database_url, request):
    key, raw_key = await new_key(db)
    await db.dispose()
    read_only = Database(_read_only(database_url, request))
    try:
        principal = await verify_api_key(read_only, raw_key)
    finally:
        await read_only.dispose()
    assert principal is not None and principal.id == key.id
    assert (await stored(db, key.id)).last_used_at is None


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
async def api(client):
    return client


FIELDS = {
    "id",
    "name",
    "prefix",
    "scopes",
    "created_by",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
}


async def test_the_api_shows_the_key_once(api, app):
    response = await api.post("/api-keys", json={"name": "press-gw", "scopes": ["ingest"]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == FIELDS | {"key"}
    assert KEY_FORMAT.fullmatch(created["key"])
    assert created["key"].startswith(f"sf_{created['prefix']}_")
    assert created["scopes"] == ["ingest"]
    assert created["created_by"] == ADMIN_NAME
    assert created["expires_at"] is created["revoked_at"] is created["last_used_at"] is None

    fetched = await api.get(f"/api-keys/{created['id']}")
    listed = await api.get("/api-keys")
    assert fetched.json() == {k: v for k, v in created.items() if k != "key"}
    assert listed.json() == {"items": [fetched.json()], "next_cursor": None}
    secret = created["key"].split("_", 2)[2]
    assert secret not in fetched.text + listed.text

    principal = await verify_api_key(app.state.db, created["key"])
    assert principal is not None and principal.scopes == {"ingest"}
    # Nor did the request leave it anywhere (the audit trail included).
    assert secret not in await _every_row(app.state.db)


async def test_revoking_through_the_api(api, app):
    created = (await api.post("/api-keys", json={"name": "gw", "scopes": ["read"]})).json()
    url = f"/api-keys/{created['id']}"

    response = await api.delete(url)
    assert response.status_code == 204 and response.content == b""
    revoked_at = (await api.get(url)).json()["revoked_at"]
    assert revoked_at is not None
    assert await verify_api_key(app.state.db, created["key"]) is None

    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).json()["revoked_at"] == revoked_at
    for missing in ("/api-keys/999999", "/api-keys/99999999999"):
        assert_problem(await api.get(missing), 404, "not-found")
        assert_problem(await api.delete(missing), 404, "not-found")


async def test_an_api_key_signs_requests_in_with_its_scopes(api, app):
    reader = (await api.post("/api-keys", json={"name": "dash", "scopes": ["read"]})).json()
    transport = httpx.ASGITransport(app=app)
    headers = {"X-API-Key": reader["key"]}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/api/v1", headers=headers
    ) as machine:
        assert (await machine.get("/assets")).status_code == 200
        assert_problem(await machine.get("/api-keys"), 403)
        await api.delete(f"/api-keys/{reader['id']}")
        assert_problem(await machine.get("/assets"), 401)
    last_used = (await api.get(f"/api-keys/{reader['id']}")).json()["last_used_at"]
    assert last_used is not None


async def test_bad_bodies_are_422_naming_each_field(api):
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cases = [
        ({"name": "gw", "scopes": ["ingest", "write"]}, [["scopes", 1]]),
        ({"name": "gw", "scopes": []}, [["scopes"]]),
        ({"name": "gw"}, [["scopes"]]),
        ({"name": "Gw 1", "scopes": ["read"]}, [["name"]]),
        ({"name": "x" * 101, "scopes": ["read"]}, [["name"]]),
        ({"name": "gw", "scopes": ["read"], "expires_at": past}, [["expires_at"]]),
        ({"name": "gw", "scopes": ["read"], "key": "sf_mine"}, [["key"]]),
        ({"name": "-gw", "scopes": "ingest"}, [["name"], ["scopes"]]),
    ]
    for body, locs in cases:
        problem = assert_problem(await api.post("/api-keys", json=body), 422, "validation-error")
        assert sorted(error_locs(problem)) == locs, (body, problem)
    assert (await api.get("/api-keys")).json()["items"] == []


async def test_a_duplicate_name_is_409(api):
    body = {"name": "gw", "scopes": ["ingest"]}
    assert (await api.post("/api-keys", json=body)).status_code == 201
    problem = assert_problem(await api.post("/api-keys", json=body), 409, "already-exists")
    assert "gw" in problem["detail"]


async def test_an_idempotency_key_replays_the_creation_key_included(api):
    headers = {"Idempotency-Key": "gw-create-1"}
    body = {"name": "gw", "scopes": ["ingest"]}
    first = await api.post("/api-keys", json=body, headers=headers)
    again = await api.post("/api-keys", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert len((await api.get("/api-keys")).json()["items"]) == 1


async def test_expiry_is_kept_in_utc(api):
    body = {"name": "gw", "scopes": ["read"], "expires_at": "2999-01-01T02:00:00+02:00"}
    created = (await api.post("/api-keys", json=body)).json()
    expires_at = datetime.fromisoformat(created["expires_at"])
    assert expires_at == datetime(2999, 1, 1, tzinfo=UTC)
    fetched = (await api.get(f"/api-keys/{created['id']}")).json()
    assert datetime.fromisoformat(fetched["expires_at"]) == expires_at


async def test_the_list_pages_with_cursors(api):
    for name in ("a", "b", "c"):
        assert (await api.post("/api-keys", json={"name": name, "scopes": ["read"]})).is_success
    first = (await api.get("/api-keys", params={"limit": 2})).json()
    assert [item["name"] for item in first["items"]] == ["a", "b"]
    rest = (await api.get("/api-keys", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [item["name"] for item in rest["items"]] == ["c"] and rest["next_cursor"] is None
    assert_problem(await api.get("/api-keys", params={"cursor": "nonsense!"}), 400)
    assert_problem(await api.get("/api-keys", params={"limit": 0}), 422)
