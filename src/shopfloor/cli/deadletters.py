"""``shopfloor deadletters list|replay``.

On a shared bus (Redis) the command talks to the bus itself. The in-process bus lives inside
``shopfloor serve``, so there the command asks that server (``--url``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from shopfloor.bus import create_bus
from shopfloor.config import Settings
from shopfloor.pipeline.api import dead_letter_json

app = typer.Typer(help="Messages the pipeline could not handle.", no_args_is_help=True)
console = Console(soft_wrap=True)
SERVER = typer.Option("http://127.0.0.1:8000", "--url", help="The server (in-process bus only).")


def _in_process(settings: Settings) -> bool:
    return settings.bus_url.startswith("memory:")


def _ask_server(url: str, method: str, path: str, params: dict[str, Any]) -> Any:
    try:
        response = httpx.request(method, f"{url}/api/v1{path}", params=params, timeout=30)
    except httpx.TransportError as exc:
        console.print(f"[red]error:[/red] cannot reach the server at {url}: {exc}")
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        console.print(f"[red]error:[/red] {response.status_code} {response.text[:300]}")
        raise typer.Exit(1)
    return response.json()


async def _list_from_bus(settings: Settings, topic: str | None, limit: int) -> list[dict[str, Any]]:
    bus = create_bus(settings.bus_url)
    await bus.start()
    try:
        return [dead_letter_json(letter) for letter in await bus.dead_letters(topic, limit)]
    finally:
        await bus.close()


async def _replay_on_bus(settings: Settings, topic: str | None) -> int:
    bus = create_bus(settings.bus_url)
    await bus.start()
    try:
        return await bus.replay_dead_letters(topic)
    finally:
        await bus.close()


@app.command("list")
def list_letters(
    topic: str | None = typer.Option(None, help="Only this topic."),
    limit: int = typer.Option(100, min=1, max=1000),
    url: str = SERVER,
) -> None:
    """Show dead letters: topic, key, error and attempts."""
    settings = Settings()
    if _in_process(settings):
        params = {"limit": limit, **({"topic": topic} if topic else {})}
        items = _ask_server(url, "GET", "/deadletters", params)["items"]
    else:
        items = asyncio.run(_list_from_bus(settings, topic, limit))
    if not items:
        console.print("no dead letters")
        return
    table = Table("failed at", "topic", "key", "group", "attempts", "error", "id")
    for item in items:
        table.add_row(
            item["failed_at"],
            item["topic"],
            item["key"],
            item["group"],
            str(item["attempts"]),
            item["error"][:120],
            item["id"],
        )
    console.print(table)


@app.command("replay")
def replay(
    topic: str | None = typer.Option(None, help="Only this topic."),
    url: str = SERVER,
) -> None:
    """Publish dead letters again, as fresh attempts, once the fault is fixed."""
    settings = Settings()
    if _in_process(settings):
        params = {"topic": topic} if topic else {}
        count = _ask_server(url, "POST", "/deadletters/replay", params)["replayed"]
    else:
        count = asyncio.run(_replay_on_bus(settings, topic))
    console.print(f"replayed {count} dead letter(s)")
