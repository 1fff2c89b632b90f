"""``shopfloor audit verify|list``: messages and exit codes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from typer.testing import CliRunner

from shopfloor.auth import audit
from shopfloor.auth.models import AuditEntry
from shopfloor.cli import app as cli
from shopfloor.storage import Database

runner = CliRunner()
LOG = AuditEntry.__table__


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {"SHOPFLOOR_DATABASE_URL": database_url, "SHOPFLOOR_DATA_DIR": str(tmp_path / "data")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def _invoke(*args: str):  # type: ignore[no-untyped-def]
    # The command runs its own event loop, so it cannot share the test's.
    return await asyncio.to_thread(runner.invoke, cli, ["audit", *args])


async def _seed(url: str, events: list[tuple[str, str, str]]) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            for actor, action, target in events:
                audit.record(session, action=action, target=target, actor=actor, after={"n": 1})
    finally:
        await db.dispose()


async def _tamper(url: str, statement) -> None:  # type: ignore[no-untyped-def]
    db = Database(url)
    try:
        async with db.write() as session:
            await session.execute(statement)
    finally:
        await db.dispose()


async def test_verify_an_intact_log(cli_env: dict[str, str], database_url: str) -> None:
    empty = await _invoke("verify")
    assert empty.exit_code == 0, empty.output
    assert "audit log intact: 0 entries" in empty.output
    await _seed(database_url, [("bob", "test.event", f"thing/{n}") for n in range(1234)])
    result = await _invoke("verify", "--batch-size", "100")
    assert result.exit_code == 0, result.output
    assert "audit log intact: 1,234 entries" in result.output


async def test_verify_names_an_altered_entry_and_exits_1(
    cli_env: dict[str, str], database_url: str
) -> None:
    await _seed(database_url, [("bob", "test.event", f"thing/{n}") for n in range(30)])
    await _tamper(database_url, update(LOG).where(LOG.c.seq == 17).values(target="thing/x"))
    result = await _invoke("verify")
    assert result.exit_code == 1, result.output
    assert (
        "audit log broken: entry 17 (id 17) was altered: its hash does not match its content"
        in result.output
    )


async def test_verify_as_a_process_reports_a_cut_tail(
    cli_env: dict[str, str], database_url: str
) -> None:
    await _seed(database_url, [("bob", "test.event", f"thing/{n}") for n in range(12)])
    await _tamper(database_url, delete(LOG).where(LOG.c.seq > 10))
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shopfloor", "audit", "verify"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.strip() == (
        "audit log broken: the chain ends at 10 but its head says 12: "
        "entries were removed from the end"
    )


async def test_list_shows_the_newest_entries_of_an_actor(
    cli_env: dict[str, str], database_url: str
) -> None:
    await _seed(
        database_url,
        [
            ("bob", "auth.login_failed", "user/bob"),
            ("carol", "auth.locked_out", "user/carol"),
            ("bob", "auth.locked_out", "user/bob"),
        ],
    )
    result = await _invoke("list", "--actor", "bob", "--limit", "50")
    assert result.exit_code == 0, result.output
    assert "auth.login_failed" in result.output and "auth.locked_out" in result.output
    assert "carol" not in result.output
    assert result.output.index("auth.locked_out") < result.output.index("auth.login_failed")
    only_failed = await _invoke("list", "--action", "auth.login*")
    assert "auth.login_failed" in only_failed.output and "locked_out" not in only_failed.output
    nobody = await _invoke("list", "--actor", "nobody")
    assert nobody.exit_code == 0 and "no audit entries" in nobody.output
