"""``shopfloor api-keys create|list|revoke``, run as an operator would: a real process.

On SQLite the command finds no database yet and creates it (the embedded default in the data
directory); on PostgreSQL it uses ``SHOPFLOOR_DATABASE_URL``, already migrated.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from shopfloor.auth.apikeys import find_api_key, verify_api_key
from shopfloor.cli import COMMANDS
from shopfloor.core.clock import utcnow
from shopfloor.storage import Database

KEY_FORMAT = re.compile(r"sf_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")
# Until the command is registered in ``shopfloor.cli``, run its typer app directly.
RUN_APP = "from shopfloor.cli.apikeys import app; app(prog_name='shopfloor api-keys')"


@pytest.fixture
def cli(backend, request, tmp_path):
    """Runs ``shopfloor api-keys ARGS``; ``cli.url`` is the database it works on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPFLOOR_")}
    env.update(SHOPFLOOR_DATA_DIR=str(tmp_path / "data"), SHOPFLOOR_LOG_LEVEL="WARNING")
    if backend == "postgresql":
        env["SHOPFLOOR_DATABASE_URL"] = request.getfixturevalue("database_url")
    command = (
        [sys.executable, "-m", "shopfloor", "api-keys"]
        if "api-keys" in COMMANDS
        else [sys.executable, "-c", RUN_APP]
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=120
        )

    run.url = env.get(  # type: ignore[attr-defined]
        "SHOPFLOOR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'shopfloor.db'}"
    )
    return run


async def _with_db(url, work):
    db = Database(url)
    try:
        return await work(db)
    finally:
        await db.dispose()


async def verify(url, raw_key):
    return await _with_db(url, lambda db: verify_api_key(db, raw_key))


async def row(url, name):
    async def find(db):
        async with db.read() as session:
            return await find_api_key(session, name)

    return await _with_db(url, find)


async def run_cli(cli, *args):
    # Off the event loop: the command takes a second, and the other backend's tests share it.
    return await asyncio.to_thread(cli, *args)


async def test_create_prints_the_key_alone_and_the_key_works(cli):
    result = await run_cli(cli, "create", "press-gw", "--scope", "ingest", "--scope", "read")

    assert result.returncode == 0, result.stderr
    assert KEY_FORMAT.fullmatch(result.stdout.rstrip("\n")), result.stdout
    assert result.stdout.count("\n") == 1
    assert "will not be shown again" in result.stderr
    raw_key = result.stdout.strip()
    principal = await verify(cli.url, raw_key)
    assert principal is not None and principal.name == "press-gw"
    assert principal.scopes == {"ingest", "read"}
    key = await row(cli.url, "press-gw")
    assert key.created_by == f"cli:{getpass.getuser()}"
    assert key.expires_at is None


async def test_list_shows_keys_but_never_the_key(cli):
    raw_key = (await run_cli(cli, "create", "press-gw", "--scope", "ingest")).stdout.strip()
    await run_cli(cli, "create", "dashboard", "--scope", "read")
    await verify(cli.url, raw_key)

    listed = await run_cli(cli, "list")

    assert listed.returncode == 0, listed.stderr
    lines = {line.split("│")[2].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    prefix = raw_key.split("_")[1]
    assert set(lines) == {"press-gw", "dashboard"}
    assert prefix in lines["press-gw"] and "ingest" in lines["press-gw"]
    assert "never" not in lines["press-gw"].split("│")[5]  # used once
    assert "never" in lines["dashboard"].split("│")[5]
    assert raw_key.split("_", 2)[2][:10] not in listed.stdout


async def test_revoke_by_name_or_id_stops_the_key(cli):
    raw_key = (await run_cli(cli, "create", "press-gw", "--scope", "ingest")).stdout.strip()
    key_id = (await row(cli.url, "press-gw")).id

    revoked = await run_cli(cli, "revoke", "press-gw")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    assert await verify(cli.url, raw_key) is None

    again = await run_cli(cli, "revoke", str(key_id))
    assert again.returncode == 0, again.stderr
    assert "already revoked" in again.stdout
    assert (await row(cli.url, "press-gw")).revoked_at is not None


async def test_expiry_in_days(cli):
    result = await run_cli(cli, "create", "temp", "--scope", "read", "--expires-in-days", "7")
    assert result.returncode == 0, result.stderr
    expires_at = (await row(cli.url, "temp")).expires_at
    assert abs(expires_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_mistakes_are_errors_with_exit_code_2(cli):
    assert (await run_cli(cli, "list")).stdout.strip() == "no API keys"
    assert (await run_cli(cli, "create", "press-gw", "--scope", "ingest")).returncode == 0
    cases = [
        (["create", "press-gw", "--scope", "read"], "already named 'press-gw'"),
        (["create", "gw-2", "--scope", "ingest", "--scope", "write"], "scopes.1: unknown scope"),
        (["create", "Press GW", "--scope", "read"], "error: the API key is not valid"),
        (["create", "gw-3"], "--scope"),
        (["create", "gw-4", "--scope", "read", "--expires-in-days", "0"], "expires-in-days"),
        (["revoke", "no-such-key"], "no API key is named 'no-such-key'"),
    ]
    for args, message in cases:
        result = await run_cli(cli, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == ""
    listed = await run_cli(cli, "list")
    assert "press-gw" in listed.stdout and "gw-2" not in listed.stdout
