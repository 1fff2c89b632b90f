"""Tokens that must not open anything: forged, tampered, expired, orphaned or replayed."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from shopfloor.auth.models import User
from shopfloor.auth.passwords import hash_password
from shopfloor.storage import Database
from tests.core.helpers import assert_problem
from tests.fixtures.auth import SECRET_KEY, bearer, token_for

PASSWORD = "a long and unusual passphrase"


def b64(document: dict) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**changes) -> dict:
    now = int(time.time())
    return {
        "sub": "1",
        "name": "admin",
        "role": "admin",
        "ver": 0,
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        "jti": "x",
        **changes,
    }


@pytest.fixture
def anonymous(app):
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test/api/v1")


async def refused(http: httpx.AsyncClient, token: str) -> dict:
    async with http:
        response = await http.get("/alarms", headers=bearer(token))
    return assert_problem(response, 401)


async def test_the_real_admin_token_is_accepted(anonymous):
    async with anonymous as http:
        response = await http.get("/alarms", headers=bearer(token_for(1, "admin", "admin")))
    assert response.status_code == 200


async def test_alg_none_is_refused(anonymous):
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    await refused(anonymous, unsigned)


async def test_a_wrong_signature_is_refused(anonymous):
    await refused(anonymous, jwt.encode(claims(), "not-the-server-key-at-all-00000000", "HS256"))


async def test_a_tampered_payload_is_refused(anonymous):
    viewer = token_for(1, "admin", "viewer")
    header, _, signature = viewer.split(".")
    await refused(anonymous, f"{header}.{b64(claims())}.{signature}")


async def test_an_expired_token_is_refused(anonymous):
    past = int(time.time()) - 3600
    await refused(anonymous, jwt.encode(claims(iat=past - 600, exp=past), SECRET_KEY, "HS256"))


async def test_garbage_and_wrong_schemes_are_refused(anonymous):
    async with anonymous as http:
        for header in ("Bearer", "Bearer not.a.jwt", "Basic YWRtaW46YWRtaW4=", "Token abc"):
            response = await http.get("/alarms", headers={"Authorization": header})
            assert_problem(response, 401)
        assert_problem(await http.get("/alarms", headers={"X-API-Key": "sf_nope_nope"}), 401)


async def test_a_deleted_users_token_is_refused(app, client, database_url):
    db = Database(database_url)
    try:
        async with db.write() as session:
            user = User(username="leaver", role="viewer", password_hash="unused")
            session.add(user)
            await session.flush()
    finally:
        await db.dispose()
    token = token_for(user.id, "leaver", "viewer")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        assert (await http.get("/alarms", headers=bearer(token))).status_code == 200
        assert (await client.delete(f"/users/{user.id}")).status_code == 204
        assert_problem(await http.get("/alarms", headers=bearer(token)), 401)


async def test_a_reused_refresh_token_is_refused_and_revokes_its_family(app, database_url):
    db = Database(database_url)
    try:
        async with db.write() as session:
            session.add(
                User(username="nightshift", role="operator", password_hash=hash_password(PASSWORD))
            )
    finally:
        await db.dispose()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        signed_in = await http.post(
            "/auth/token", data={"username": "nightshift", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        first = signed_in.json()["refresh_token"]
        rotated = await http.post("/auth/refresh", json={"refresh_token": first})
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()["refresh_token"]
        assert second != first

        # The first token again, as a thief holding a copy would: refused, and the family dies.
        assert_problem(await http.post("/auth/refresh", json={"refresh_token": first}), 401)
        assert_problem(await http.post("/auth/refresh", json={"refresh_token": second}), 401)
