"""``shopfloor api-keys create|list|revoke``: API keys for machines and integrations.

``create`` prints the key alone on stdout, so that a script can capture it
(``KEY=$(shopfloor api-keys create gw-1 --scope ingest)``); the warning that it will not be
shown again goes to stderr. Each command is one unit of work, recorded in the audit trail as
``cli:<login name>``.
"""

from __future__ import annotations

from datetime import timedelta

import typer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth import apikeys
from shopfloor.auth.models import ApiKey
from shopfloor.cli.common import cli_actor, every_row, print_table, run_unit_of_work, when
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists

app = typer.Typer(
    help="API keys for machines and integrations (sent as X-API-Key).", no_args_is_help=True
)


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NAME", help="A unique name, e.g. press-line-gateway."),
    scope: list[str] = typer.Option(
        ..., "--scope", help=f"Repeat for several: {', '.join(apikeys.SCOPES)}."
    ),
    expires_in_days: int | None = typer.Option(
        None, min=1, max=36_500, help="The key stops working after this many days."
    ),
) -> None:
    """Create an API key and print it; it is shown this once only."""
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None

    async def work(session: AsyncSession) -> str:
        try:
            _, raw_key = await apikeys.create_api_key(
                session,
                name=name,
                scopes=scope,
                created_by=cli_actor(),
                expires_at=expires_at,
            )
        except IntegrityError:  # another process took the name meanwhile
            raise AlreadyExists(f"an API key is already named {name!r}") from None
        return raw_key

    raw_key = run_unit_of_work("api-keys create", work)
    typer.echo(raw_key)
    typer.echo(f"API key {name!r} created; store it now: it will not be shown again.", err=True)


@app.command("list")
def list_keys() -> None:
    """Show every API key: its prefix, scopes, last use, expiry and revocation."""

    async def work(session: AsyncSession) -> list[ApiKey]:
        return await every_row(
            lambda after, limit: apikeys.list_api_keys(session, after=after, limit=limit)
        )

    keys = run_unit_of_work("api-keys list", work, write=False)
    rows = [
        (
            str(key.id),
            key.name,
            key.prefix,
            ",".join(key.scopes),
            when(key.last_used_at, "never"),
            when(key.expires_at, "never"),
            when(key.revoked_at, "no"),
        )
        for key in keys
    ]
    headers = ("id", "name", "prefix", "scopes", "last used", "expires", "revoked")
    print_table(headers, rows, empty="no API keys")


@app.command("revoke")
def revoke(
    name_or_id: str = typer.Argument(..., metavar="NAME_OR_ID", help="The key's name, or its id."),
) -> None:
    """Revoke an API key at once; revoking a revoked key changes nothing."""

    async def work(session: AsyncSession) -> tuple[ApiKey, bool]:
        key = await apikeys.find_api_key(session, name_or_id)
        already = key.revoked_at is not None
        return await apikeys.revoke_api_key(session, key.id), already

    key, already = run_unit_of_work("api-keys revoke", work)
    if already:
        typer.echo(
            f"API key {key.name!r} (id {key.id}) was already revoked at {when(key.revoked_at, '')}"
        )
    else:
        typer.echo(f"revoked API key {key.name!r} (id {key.id})")
