"""Access tokens (JWT) and refresh tokens: what holds, what is refused, rotation and reuse."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from shopfloor.auth import tokens
from shopfloor.auth.models import RefreshToken, User
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import Unauthorized
from shopfloor.storage import Database
from tests.auth.helpers import anonymous, bearer, make_user, tokens_of
from tests.core.helpers import assert_problem

KEY = "a-signing-key-for-these-tests-" + "0123456789abcdef" * 3
USER = User(id=7, username="alice", role="operator", token_version=3)


def refused_slug(token: str, key: str = KEY) -> str:
    with pytest.raises(Unauthorized) as caught:
        tokens.decode_access_token(key, token)
    return caught.value.slug


def forge(**changes) -> dict:
    now = int(time.time())
    claims = {"sub": "7", "ver": 3, "typ": "access", "iat": now, "exp": now + 600}
    return {**claims, **changes}


# --- access tokens ------------------------------------------------------------------------


def test_an_issued_token_decodes_to_its_claims():
    claims = tokens.decode_access_token(KEY, tokens.issue_access_token(KEY, USER, 900))
    assert (claims["sub"], claims["name"], claims["role"]) == ("7", "alice", "operator")
    assert (claims["ver"], claims["typ"]) == (3, "access")
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]


def test_an_expired_token_is_refused_as_expired():
    past = utcnow() - timedelta(hours=1)
    assert refused_slug(tokens.issue_access_token(KEY, USER, 60, now=past)) == "token-expired"


def test_alg_none_is_refused():
    unsigned = jwt.encode(forge(), key=None, algorithm="none")
    assert refused_slug(unsigned) == "invalid-token"


def test_a_token_signed_with_another_key_is_refused():
    assert refused_slug(tokens.issue_access_token("another-key-" * 4, USER, 900)) == "invalid-token"


def test_another_algorithm_with_the_same_key_is_refused():
    assert refused_slug(jwt.encode(forge(), KEY, algorithm="HS512")) == "invalid-token"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": None},
        {"iat": None},
        {"sub": None},
        {"typ": "refresh"},
        {"sub": "seven"},
        {"sub": 7},
        {"ver": "3"},
    ],
    ids=["no-exp", "no-iat", "no-sub", "not-access", "bad-sub", "int-sub", "bad-ver"],
)
def test_tokens_missing_or_bending_a_claim_are_refused(claims):
    document = {k: v for k, v in forge(**claims).items() if v is not None}
    assert refused_slug(jwt.encode(document, KEY, algorithm="HS256")) == "invalid-token"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30."])
def test_malformed_tokens_are_refused(garbage):
    assert refused_slug(garbage) == "invalid-token"


# --- refresh tokens, in the service -------------------------------------------------------


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def owner(db) -> User:
    async with db.write() as session:
        return await session.get(User, 1)  # the admin every test database holds


async def rotate(db, raw: str) -> tuple[User, str]:
    async with db.write() as session:
        return await tokens.rotate_refresh_token(session, raw, 3600)


async def rows(db) -> list[RefreshToken]:
    async with db.read() as session:
        return list(await session.scalars(select(RefreshToken).order_by(RefreshToken.id)))


async def test_rotation_hands_out_a_new_token_of_the_same_family(db, owner):
    async with db.write() as session:
        first = await tokens.issue_refresh_token(session, owner, 3600, source="10.0.0.1")
    user, second = await rotate(db, first)
    assert user.id == owner.id and second != first
    old, new = await rows(db)
    assert old.family_id == new.family_id
    assert old.rotated_at is not None and new.rotated_at is None
    assert first not in (old.token_hash, new.token_hash)  # only digests are stored
    assert new.source == "10.0.0.1"


async def test_reusing_a_rotated_token_revokes_the_whole_family(db, owner):
    async with db.write() as session:
        first = await tokens.issue_refresh_token(session, owner, 3600)
        unrelated = await tokens.issue_refresh_token(session, owner, 3600)
    _, second = await rotate(db, first)
    async with db.write() as session:
        with pytest.raises(tokens.RefreshTokenReused):
            await tokens.rotate_refresh_token(session, first, 3600)
    # Committed although the call failed (the caller catches inside its unit of work).
    with pytest.raises(tokens.RefreshTokenReused):
        await rotate(db, second)
    assert (await rotate(db, unrelated))[0].id == owner.id


async def test_unknown_and_expired_refresh_tokens_are_refused(db, owner):
    with pytest.raises(Unauthorized) as caught:
        await rotate(db, "no-such-token")
    assert caught.value.slug == "invalid-token"
    async with db.write() as session:
        old = await tokens.issue_refresh_token(
            session, owner, 60, now=utcnow() - timedelta(minutes=5)
        )
    with pytest.raises(Unauthorized) as caught:
        await rotate(db, old)
    assert caught.value.slug == "token-expired"


async def test_signing_out_revokes_the_family(db, owner):
    async with db.write() as session:
        raw = await tokens.issue_refresh_token(session, owner, 3600)
    async with db.write() as session:
        assert await tokens.revoke_family(session, raw)
        assert not await tokens.revoke_family(session, "unknown")
    with pytest.raises(Unauthorized):
        await rotate(db, raw)


# --- refresh tokens, through the API ------------------------------------------------------


async def test_refresh_accepts_json_and_forms_and_rotates(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        first = await tokens_of(http, "alice")
        response = await http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        second = response.json()
        assert second["token_type"] == "bearer" and second["expires_in"] == 900
        assert second["refresh_token"] != first["refresh_token"]
        form = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
        third = await http.post("/auth/refresh", data=form)
        assert third.status_code == 200, third.text
        me = await http.get("/auth/me", headers=bearer(third.json()["access_token"]))
        assert me.json()["name"] == "alice"


async def test_a_reused_refresh_token_ends_the_sign_in_for_everyone(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        stolen = (await tokens_of(http, "alice"))["refresh_token"]
        rotated = (await http.post("/auth/refresh", json={"refresh_token": stolen})).json()
        replay = await http.post("/auth/refresh", json={"refresh_token": stolen})
        assert_problem(replay, 401, "refresh-token-reused")
        # The legitimate holder's newer token is revoked as well.
        newer = await http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
        assert_problem(newer, 401, "refresh-token-reused")


async def test_logout_ends_the_refresh_token(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        pair = await tokens_of(http, "alice")
        response = await http.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})
        assert response.status_code == 204
        after = await http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert_problem(after, 401)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {}}, 422),
        ({"json": {"refresh_token": "x", "grant_type": "password"}}, 422),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"data": {"grant_type": "refresh_token"}}, 422),
    ],
    ids=["missing", "wrong-grant", "not-json", "form-missing"],
)
async def test_bad_refresh_bodies_are_client_errors(app, kwargs, status):
    async with anonymous(app) as http:
        assert_problem(await http.post("/auth/refresh", **kwargs), status)
