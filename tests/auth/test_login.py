"""Signing in: passwords, lockouts, the request rate, and tokens that stop holding."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select

from shopfloor.auth.models import AuditEntry, User
from shopfloor.auth.passwords import needs_rehash
from shopfloor.auth.users import authenticate_password
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import TooManyRequests, Unauthorized
from tests.auth.helpers import (
    NEW_PASSWORD,
    PASSWORD,
    anonymous,
    app_with,
    bearer,
    make_user,
    sign_in,
    tokens_of,
)
from tests.core.helpers import assert_problem

WRONG = "not-the-password-at-all"


async def test_signing_in_returns_a_token_pair(app):
    await make_user(app, "alice", role="inspector")
    async with anonymous(app) as http:
        response = await sign_in(http, "alice")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
        me = (await http.get("/auth/me", headers=bearer(body["access_token"]))).json()
    assert (me["kind"], me["name"], me["role"]) == ("user", "alice", "inspector")
    assert me["user"]["last_login_at"] is not None
    assert "password_hash" not in me["user"] and "totp_secret" not in me["user"]


async def test_user_names_are_matched_whatever_their_case(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        assert (await sign_in(http, " Alice")).status_code == 200


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user", "inactive-user"])
async def test_failed_sign_ins_all_look_alike(app, client, who):
    user = await make_user(app, "alice")
    if who == "inactive-user":
        assert (await client.patch(f"/users/{user.id}", json={"active": False})).status_code == 200
    name, password = {
        "wrong-password": ("alice", WRONG),
        "unknown-user": ("bob", PASSWORD),
        "inactive-user": ("alice", PASSWORD),
    }[who]
    async with anonymous(app) as http:
        body = assert_problem(await sign_in(http, name, password), 401, "invalid-credentials")
    assert body["detail"] == "Wrong user name or password."


async def test_five_failures_lock_the_user_even_against_the_right_password(app):
    await make_user(app, "alice")
    for attempt in range(5):
        async with anonymous(app, source=f"10.0.1.{attempt}") as http:
            assert_problem(await sign_in(http, "alice", WRONG), 401)
    async with anonymous(app, source="10.0.2.1") as http:
        locked = assert_problem(await sign_in(http, "alice"), 429, "too-many-requests")
        response = await sign_in(http, "alice")
    assert 890 <= int(response.headers["retry-after"]) <= 900
    assert "try again later" in locked["detail"]


async def test_five_failures_from_one_address_lock_it_for_every_name(app):
    await make_user(app, "alice")
    async with anonymous(app, source="192.0.2.66") as http:
        for name in ["root", "admin", "operator", "test", "guest"]:
            assert_problem(await sign_in(http, name, WRONG), 401)
        response = await sign_in(http, "alice")
        assert_problem(response, 429)
        assert 890 <= int(response.headers["retry-after"]) <= 900
    async with anonymous(app, source="192.0.2.67") as http:
        assert (await sign_in(http, "alice")).status_code == 200


async def test_a_good_sign_in_forgets_the_users_failures(app):
    await make_user(app, "alice")
    for attempt in range(4):
        async with anonymous(app, source=f"10.0.3.{attempt}") as http:
            assert_problem(await sign_in(http, "alice", WRONG), 401)
    async with anonymous(app, source="10.0.4.1") as http:
        assert (await sign_in(http, "alice")).status_code == 200
    for attempt in range(4):
        async with anonymous(app, source=f"10.0.5.{attempt}") as http:
            assert_problem(await sign_in(http, "alice", WRONG), 401)
    async with anonymous(app, source="10.0.6.1") as http:
        assert (await sign_in(http, "alice")).status_code == 200


async def test_a_lockout_ends_after_its_time(app):
    await make_user(app, "alice")
    db, settings = app.state.db, app.state.settings
    start = utcnow()
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await authenticate_password(db, "alice", WRONG, None, "10.0.0.9", settings, now=start)
    later = start + timedelta(seconds=settings.lockout_s - 1)
    with pytest.raises(TooManyRequests) as caught:
        await authenticate_password(db, "alice", PASSWORD, None, "10.0.0.9", settings, now=later)
    assert caught.value.retry_after_s == 1
    after = start + timedelta(seconds=settings.lockout_s + 1)
    user = await authenticate_password(db, "alice", PASSWORD, None, "10.0.0.9", settings, now=after)
    assert user.username == "alice"


async def test_sign_in_requests_are_rate_limited_per_address(settings):
    async with app_with(settings, auth_rate_limit="3/minute") as app:
        async with anonymous(app, source="198.51.100.1") as http:
            for _ in range(3):
                assert_problem(await sign_in(http, "nobody", WRONG), 401)
            response = await http.post("/auth/refresh", json={"refresh_token": "x"})
            assert_problem(response, 429)
            assert 1 <= int(response.headers["retry-after"]) <= 60
        async with anonymous(app, source="198.51.100.2") as http:
            assert_problem(await sign_in(http, "nobody", WRONG), 401)


async def test_an_old_hash_is_upgraded_at_sign_in(app):
    user = await make_user(app, "alice")
    async with app.state.db.write() as session:
        row = await session.get(User, user.id)
        row.password_hash = Argon2Hasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    async with anonymous(app) as http:
        assert (await sign_in(http, "alice")).status_code == 200
    async with app.state.db.read() as session:
        assert not needs_rehash((await session.get(User, user.id)).password_hash)


async def test_a_deleted_users_token_is_refused(app, client):
    user = await make_user(app, "alice")
    async with anonymous(app) as http:
        token = (await tokens_of(http, "alice"))["access_token"]
        assert (await http.get("/auth/me", headers=bearer(token))).status_code == 200
        assert (await client.delete(f"/users/{user.id}")).status_code == 204
        assert_problem(await http.get("/auth/me", headers=bearer(token)), 401, "invalid-token")


async def test_changing_ones_password_ends_older_tokens(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        old = await tokens_of(http, "alice")
        headers = bearer(old["access_token"])
        wrong = {"current_password": WRONG, "new_password": NEW_PASSWORD}
        assert_problem(await http.post("/auth/password", json=wrong, headers=headers), 422)
        weak = {"current_password": PASSWORD, "new_password": "short"}
        assert_problem(await http.post("/auth/password", json=weak, headers=headers), 422)
        change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        response = await http.post("/auth/password", json=change, headers=headers)
        assert response.status_code == 200, response.text
        new = response.json()
        assert_problem(await http.get("/auth/me", headers=headers), 401, "invalid-token")
        refreshed = await http.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
        assert_problem(refreshed, 401)
        assert (await http.get("/auth/me", headers=bearer(new["access_token"]))).status_code == 200
        assert_problem(await sign_in(http, "alice", PASSWORD), 401)
        assert (await sign_in(http, "alice", NEW_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    "change", [{"role": "viewer"}, {"active": False}, {"password": NEW_PASSWORD}]
)
async def test_an_admins_change_signs_the_user_out(app, client, change):
    user = await make_user(app, "alice")
    async with anonymous(app) as http:
        old = await tokens_of(http, "alice")
        response = await client.patch(f"/users/{user.id}", json=change)
        assert response.status_code == 200, response.text
        assert_problem(await http.get("/auth/me", headers=bearer(old["access_token"])), 401)
        refreshed = await http.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
        assert_problem(refreshed, 401)


async def test_an_email_change_keeps_the_user_signed_in(app, client):
    user = await make_user(app, "alice")
    async with anonymous(app) as http:
        token = (await tokens_of(http, "alice"))["access_token"]
        response = await client.patch(f"/users/{user.id}", json={"email": "alice@example.com"})
        assert response.json()["email"] == "alice@example.com"
        assert (await http.get("/auth/me", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    "authorization", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer a b", "token", "Bearer not.a.jwt"]
)
async def test_malformed_authorization_headers_are_401(app, authorization):
    async with anonymous(app) as http:
        response = await http.get("/auth/me", headers={"Authorization": authorization})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_sign_ins_failures_and_lockouts_are_on_record(app):
    await make_user(app, "alice")
    async with anonymous(app, source="203.0.113.5") as http:
        assert (await sign_in(http, "alice")).status_code == 200
        for _ in range(5):
            assert_problem(await sign_in(http, "alice", WRONG), 401)
    async with app.state.db.read() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("auth.%")).order_by(AuditEntry.seq)
            )
        ).all()
    seen = [(e.action, e.target, e.actor, e.source) for e in entries]
    assert seen == [
        ("auth.login", "user/alice", "alice", "203.0.113.5"),
        *[("auth.login_failed", "user/alice", "alice", "203.0.113.5")] * 5,
        ("auth.locked_out", "user/alice", "alice", "203.0.113.5"),
        ("auth.locked_out", "address/203.0.113.5", "alice", "203.0.113.5"),
    ]
