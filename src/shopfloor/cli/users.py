"""``shopfloor users create|list|set-password|reset-totp``: accounts, from the server's shell.

The way in on a fresh install (the first admin) and the way back in for someone who lost a
password or a phone. Passwords come from a hidden prompt (typed twice) or, for scripts, one line
on stdin with ``--password-stdin``; never from an argument, which would sit in the shell history
and in the process list. Each command is one unit of work, recorded in the audit trail as
``cli:<login name>``.
"""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth import totp, users
from shopfloor.auth.models import User
from shopfloor.auth.roles import ROLES
from shopfloor.cli.common import every_row, fail, print_table, run_unit_of_work, when
from shopfloor.core.errors import AlreadyExists

app = typer.Typer(help="User accounts: create, list, reset passwords.", no_args_is_help=True)
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin."
)


def _password(from_stdin: bool) -> str:
    if not from_stdin:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail("no password on stdin (--password-stdin reads its first line)")
    return line


@app.command("create")
def create(
    username: str = typer.Argument(..., metavar="USERNAME", help="e.g. jane.doe"),
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
    email: str | None = typer.Option(None, "--email", help="For notifications."),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create a user; the password is asked for (twice, hidden) unless --password-stdin."""
    password = _password(password_stdin)

    async def work(session: AsyncSession) -> User:
        try:
            return await users.create_user(
                session, username=username, password=password, role=role, email=email
            )
        except IntegrityError:  # another process took the name meanwhile
            raise AlreadyExists(f"a user named {username!r} already exists") from None

    user = run_unit_of_work("users create", work)
    typer.echo(f"created user {user.username!r} (id {user.id}, role {user.role})")


@app.command("list")
def list_users() -> None:
    """Show every user: role, whether active, second factor, last sign-in."""

    async def work(session: AsyncSession) -> list[User]:
        return await every_row(
            lambda after, limit: users.list_users(session, after=after, limit=limit)
        )

    found = run_unit_of_work("users list", work, write=False)
    rows = [
        (
            str(user.id),
            user.username,
            user.role,
            "yes" if user.active else "no",
            "on" if user.totp_enabled else "off",
            user.email or "",
            when(user.last_login_at, "never"),
        )
        for user in found
    ]
    headers = ("id", "username", "role", "active", "2fa", "email", "last sign-in")
    print_table(headers, rows, empty="no users")


@app.command("set-password")
def set_password(
    username: str = typer.Argument(..., metavar="USERNAME"),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Give a user a new password; every session of theirs ends."""
    password = _password(password_stdin)

    async def work(session: AsyncSession) -> User:
        return await users.set_password(session, username, password)

    user = run_unit_of_work("users set-password", work)
    typer.echo(f"password of {user.username!r} changed; their sessions have ended")


@app.command("reset-totp")
def reset_totp(username: str = typer.Argument(..., metavar="USERNAME")) -> None:
    """Turn a user's second factor off (a lost phone); they may enrol again once signed in."""

    async def work(session: AsyncSession) -> User:
        user = await users.find_user(session, username)
        totp.reset(user)
        await session.flush()
        return user

    user = run_unit_of_work("users reset-totp", work)
    typer.echo(f"second factor of {user.username!r} is off; they sign in with the password alone")
