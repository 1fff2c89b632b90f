"""``shopfloor deadletters list|replay``.

On a shared bus (Redis) the command talks to the bus itself, and reads the connectors' dead
letters from the database. The in-process bus lives inside ``shopfloor serve``, so there the
command asks that server (``--url``, with an admin's token in ``SHOPFLOOR_TOKEN``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from shopfloor.bus import create_bus
from shopfloor.config import Settings
from shopfloor.connectors.deadletters import connector_letter_json, list_dead_letters
from shopfloor.connectors.replay import replay as replay_letters
from shopfloor.pipeline.api import dead_letter_json
from shopfloor.readings.service import build_ingestor
from shopfloor.storage import Database

app = typer.Typer(
    help="Messages the pipeline or a connector could not handle.", no_args_is_help=True
)
console = Console(soft_wrap=True)
SERVER = typer.Option("http://127.0.0.1:8000", "--url", help="The server (in-process bus only).")


def _in_process(settings: Settings) -> bool:
    return settings.bus_url.startswith("memory:")


def _ask_server(url: str, method: str, path: str, params: dict[str, Any]) -> Any:
    """The server's answer; the API wants an admin's token (``SHOPFLOOR_TOKEN``)."""
    token = os.environ.get("SHOPFLOOR_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, f"{url}/api/v1{path}", params=params, headers=headers, timeout=60
        )
    except httpx.TransportError as exc:
        console.print(f"[red]error:[/red] cannot reach the server at {url}: {exc}")
        raise typer.Exit(1) from None
    if response.status_code == 401:
        console.print(
            "[red]error:[/red] the server asks for an admin's sign-in: set SHOPFLOOR_TOKEN to "
            "an access token (POST /api/v1/auth/token)"
        )
        raise typer.Exit(1)
    if response.status_code >= 400:
        console.print(f"[red]error:[/red] {response.status_code} {response.text[:300]}")
        raise typer.Exit(1)
    return response.json()


async def _connector_letters(settings: Settings, topic: str | None, limit: int) -> list[Any]:
    db = Database(settings.resolved_database_url)
    try:
        letters = await list_dead_letters(db, topic=topic, limit=limit)
        return [connector_letter_json(letter) for letter in letters]
    finally:
        await db.dispose()


async def _replay_connector_letters(settings: Settings, topic: str | None) -> tuple[int, int]:
    db = Database(settings.resolved_database_url)
    try:
        ingestor = build_ingestor(db, settings)
        return await replay_letters(db, ingestor, {}, settings.mqtt_topic_prefix, topic)
    finally:
        await db.dispose()


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
        # The server holds the in-process bus and answers for the connectors' letters too.
        params = {"limit": limit, **({"topic": topic} if topic else {})}
        items = _ask_server(url, "GET", "/deadletters", params)["items"]
    else:
        bus_topic = None if topic is not None and topic.endswith("/#") else topic
        items = [] if bus_topic != topic else asyncio.run(_list_from_bus(settings, topic, limit))
        items = [{"source": "pipeline", **item} for item in items]
        items += asyncio.run(_connector_letters(settings, topic, limit))
    if not items:
        console.print("no dead letters")
        return
    table = Table("failed at", "source", "topic", "key", "group", "attempts", "error", "id")
    for item in items[:limit]:
        table.add_row(
            item["failed_at"],
            item.get("source", "pipeline"),
            item["topic"],
            item["key"] or "-",
            item["group"] or "-",
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
        answer = _ask_server(url, "POST", "/deadletters/replay", params)
        count, failing = answer["replayed"], answer.get("still_failing", 0)
    else:
        bus_topic = None if topic is not None and topic.endswith("/#") else topic
        count = 0 if bus_topic != topic else asyncio.run(_replay_on_bus(settings, topic))
        stored, failing = asyncio.run(_replay_connector_letters(settings, topic))
        count += stored
    console.print(f"replayed {count} dead letter(s)")
    if failing:
        console.print(f"{failing} still failing (kept, with the new reason)")
