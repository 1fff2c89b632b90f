"""The second factor: codes, their one-time use, enrolment, and sign-in with a code."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from shopfloor.auth import totp
from shopfloor.auth.models import User
from shopfloor.core.errors import Conflict, ValidationFailed
from tests.auth.helpers import anonymous, bearer, make_user, sign_in, tokens_of
from tests.core.helpers import assert_problem

NOW = datetime(2026, 3, 2, 8, 0, 10, tzinfo=UTC)
SECRET = pyotp.random_base32()


def enrolled() -> User:
    return User(username="alice", totp_secret=SECRET, totp_enabled=True, totp_last_step=None)


def code_at(moment: datetime, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(moment)


# --- codes --------------------------------------------------------------------------------


def test_the_current_code_and_its_neighbours_are_accepted():
    for offset in (-30, 0, 30):
        assert totp.verify_totp(enrolled(), code_at(NOW + timedelta(seconds=offset)), now=NOW)


def test_codes_further_off_are_refused():
    for offset in (-60, 60):
        assert not totp.verify_totp(enrolled(), code_at(NOW + timedelta(seconds=offset)), now=NOW)


def test_a_code_is_good_once_and_so_is_every_earlier_one():
    user = enrolled()
    assert totp.verify_totp(user, code_at(NOW), now=NOW)
    assert not totp.verify_totp(user, code_at(NOW), now=NOW)
    assert not totp.verify_totp(user, code_at(NOW - timedelta(seconds=30)), now=NOW)
    assert totp.verify_totp(user, code_at(NOW + timedelta(seconds=30)), now=NOW)


@pytest.mark.parametrize("code", [None, "", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(code):
    assert not totp.verify_totp(enrolled(), code, now=NOW)


def test_a_code_with_a_space_in_the_middle_is_read():
    code = code_at(NOW)
    assert totp.verify_totp(enrolled(), f"{code[:3]} {code[3:]}", now=NOW)


def test_nothing_is_accepted_before_enrolment_is_confirmed():
    user = User(username="alice", totp_enabled=False)
    secret, uri = totp.begin_enrolment(user)
    assert not totp.verify_totp(user, code_at(NOW, secret), now=NOW)
    query = parse_qs(urlparse(uri).query)
    assert uri.startswith("otpauth://totp/shopfloor:alice")
    assert (query["issuer"], query["secret"]) == (["shopfloor"], [secret])
    with pytest.raises(ValidationFailed):
        totp.confirm_enrolment(user, code_at(NOW - timedelta(minutes=5), secret), now=NOW)
    totp.confirm_enrolment(user, code_at(NOW, secret), now=NOW)
    assert user.totp_enabled
    with pytest.raises(Conflict):
        totp.begin_enrolment(user)


# --- through the API ----------------------------------------------------------------------


def code(secret: str, step: int = 0) -> str:
    """The code ``step`` time steps from now (within the accepted window: -1, 0, 1)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * step)


async def enrol(http, token: str) -> str:
    response = await http.post("/auth/totp", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    secret = response.json()["secret"]
    confirm = {"code": code(secret)}
    response = await http.post("/auth/totp/confirm", json=confirm, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["totp_enabled"] is True
    return secret


async def test_once_enrolled_sign_in_needs_a_fresh_code(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        token = (await tokens_of(http, "alice"))["access_token"]
        secret = await enrol(http, token)
        missing = assert_problem(await sign_in(http, "alice"), 401, "totp-required")
        assert "code" in missing["detail"]
        assert_problem(await sign_in(http, "alice", totp="000000"), 401, "invalid-totp")
        fresh = code(secret, step=1)  # the enrolment spent the current step
        assert (await sign_in(http, "alice", totp=fresh)).status_code == 200
        assert_problem(await sign_in(http, "alice", totp=fresh), 401, "invalid-totp")


async def test_a_code_does_not_help_a_wrong_password(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        secret = await enrol(http, (await tokens_of(http, "alice"))["access_token"])
        response = await sign_in(http, "alice", "not-the-password-at-all", totp=code(secret, 1))
        assert_problem(response, 401, "invalid-credentials")


async def test_wrong_codes_count_towards_the_lockout(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        secret = await enrol(http, (await tokens_of(http, "alice"))["access_token"])
    for attempt in range(5):
        async with anonymous(app, source=f"10.9.0.{attempt}") as http:
            assert_problem(await sign_in(http, "alice", totp="000000"), 401, "invalid-totp")
    async with anonymous(app, source="10.9.1.1") as http:
        assert_problem(await sign_in(http, "alice", totp=code(secret, 1)), 429)


async def test_an_unconfirmed_enrolment_changes_nothing(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        token = (await tokens_of(http, "alice"))["access_token"]
        assert (await http.post("/auth/totp", headers=bearer(token))).status_code == 200
        wrong = await http.post(
            "/auth/totp/confirm", json={"code": "000000"}, headers=bearer(token)
        )
        assert_problem(wrong, 422)
        assert (await sign_in(http, "alice")).status_code == 200


async def test_turning_the_second_factor_off_needs_a_code(app):
    await make_user(app, "alice")
    async with anonymous(app) as http:
        token = (await tokens_of(http, "alice"))["access_token"]
        secret = await enrol(http, token)
        off = await http.request(
            "DELETE", "/auth/totp", json={"code": "000000"}, headers=bearer(token)
        )
        assert_problem(off, 422)
        off = await http.request(
            "DELETE", "/auth/totp", json={"code": code(secret, 1)}, headers=bearer(token)
        )
        assert off.status_code == 204, off.text
        assert (await sign_in(http, "alice")).status_code == 200
        me = await http.get("/auth/me", headers=bearer(token))
        assert me.json()["user"]["totp_enabled"] is False
