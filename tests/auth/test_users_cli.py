"""``shopfloor users …``: accounts made and mended from the shell, then used to sign in.

Synchronous tests: the commands run their own event loop (``asyncio.run``), as they do in a
shell; the sign-in afterwards runs in one of its own.
"""

from __future__ import annotations

import asyncio

import pyotp
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shopfloor.auth.models import User
from shopfloor.cli import app as shopfloor
from shopfloor.cli.users import app as users_app
from shopfloor.storage import Database
from tests.auth.helpers import NEW_PASSWORD, PASSWORD, anonymous, app_with, sign_in

runner = CliRunner()


@pytest.fixture
def shell(monkeypatch, settings):
    """The environment a user's shell would have: the test database and data directory."""
    monkeypatch.setenv("SHOPFLOOR_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("SHOPFLOOR_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SHOPFLOOR_LOG_JSON", "false")
    return settings


def users(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(users_app, list(args), input=stdin)


def sign_in_status(settings, username: str, password: str, totp: str | None = None) -> int:
    async def attempt() -> int:
        async with app_with(settings) as app, anonymous(app) as http:
            return (await sign_in(http, username, password, totp)).status_code

    return asyncio.run(attempt())


def change_user(settings, username: str, **fields: object) -> None:
    async def change() -> None:
        db = Database(settings.resolved_database_url)
        try:
            async with db.write() as session:
                user = await session.scalar(select(User).where(User.username == username))
                for name, value in fields.items():
                    setattr(user, name, value)
        finally:
            await db.dispose()

    asyncio.run(change())


def test_create_with_password_stdin_then_sign_in(shell):
    result = users("create", "jane.doe", "--role", "inspector", "--password-stdin", stdin=PASSWORD)
    assert result.exit_code == 0, result.output
    assert "created user 'jane.doe'" in result.output and "role inspector" in result.output
    assert sign_in_status(shell, "jane.doe", PASSWORD) == 200


def test_create_asks_for_the_password_twice_hidden(shell):
    result = users("create", "jane.doe", "--role", "viewer", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert sign_in_status(shell, "jane.doe", PASSWORD) == 200


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["admin", "--role", "admin"], PASSWORD, "a user named 'admin' already exists"),
        (["jane", "--role", "admin"], "short", "password: must be at least 12 characters"),
        (["jane", "--role", "king"], PASSWORD, "role: unknown role 'king'"),
        (["Jane Doe", "--role", "viewer"], PASSWORD, "username: must be 2 to 64 characters"),
        (["jane", "--role", "viewer"], "", "no password on stdin"),
    ],
    ids=["taken", "weak", "unknown-role", "bad-name", "empty-stdin"],
)
def test_create_refusals_say_why_and_exit_2(shell, args, stdin, message):
    result = users("create", *args, "--password-stdin", stdin=stdin)
    assert result.exit_code == 2, result.output
    assert "error: " in result.output and message in result.output


def test_list_shows_every_user(shell):
    users("create", "jane.doe", "--role", "inspector", "--password-stdin", stdin=PASSWORD)
    result = users("list")
    assert result.exit_code == 0, result.output
    assert "admin" in result.output and "jane.doe" in result.output
    assert "inspector" in result.output and "never" in result.output


def test_set_password_replaces_the_old_one(shell):
    users("create", "jane.doe", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    result = users("set-password", "jane.doe", "--password-stdin", stdin=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert sign_in_status(shell, "jane.doe", PASSWORD) == 401
    assert sign_in_status(shell, "jane.doe", NEW_PASSWORD) == 200
    unknown = users("set-password", "nobody", "--password-stdin", stdin=NEW_PASSWORD)
    assert unknown.exit_code == 2 and "no user is named 'nobody'" in unknown.output


def test_reset_totp_lets_a_user_without_their_phone_back_in(shell):
    users("create", "jane.doe", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    change_user(shell, "jane.doe", totp_secret=pyotp.random_base32(), totp_enabled=True)
    assert sign_in_status(shell, "jane.doe", PASSWORD) == 401
    result = users("reset-totp", "jane.doe")
    assert result.exit_code == 0, result.output
    assert sign_in_status(shell, "jane.doe", PASSWORD) == 200


def test_the_commands_run_under_the_shopfloor_command(shell):
    args = ["users", "create", "jane.doe", "--role", "viewer", "--password-stdin"]
    result = runner.invoke(shopfloor, args, input=PASSWORD)
    assert result.exit_code == 0, result.output
    assert "created user 'jane.doe'" in result.output
