"""HTTP: the dead letters of the bus this process uses and of the connectors, and their
replay."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from shopfloor.bus.message import DeadLetter
from shopfloor.connectors.deadletters import connector_letter_json, mqtt_prefixes
from shopfloor.connectors.deadletters import list_dead_letters as connector_letters
from shopfloor.connectors.replay import replay as replay_connector_letters
from shopfloor.core.clock import rfc3339_from_us

router = APIRouter(tags=["operations"])


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    envelope = letter.envelope
    return {
        "id": envelope.id,
        "topic": envelope.topic,
        "key": envelope.key,
        "group": letter.group,
        "error": letter.error,
        "attempts": letter.attempts,
        "failed_at": rfc3339_from_us(int(letter.failed_at * 1_000_000)),
        "created_at": rfc3339_from_us(int(envelope.created_at * 1_000_000)),
        "payload": envelope.payload,
    }


@router.get(
    "/deadletters",
    summary="Messages that kept failing: the pipeline's, and the connectors' unreadable ones",
)
async def list_dead_letters(
    request: Request,
    topic: str | None = Query(None, description="A topic; T/# for T and everything below."),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    bus_topic = None if topic is not None and topic.endswith("/#") else topic
    letters = (
        []
        if bus_topic != topic
        else await request.app.state.pipeline.bus.dead_letters(bus_topic, limit)
    )
    items = [{"source": "pipeline", **dead_letter_json(letter)} for letter in letters]
    stored = await connector_letters(request.app.state.db, topic=topic, limit=limit)
    items.extend(connector_letter_json(letter) for letter in stored)
    items.sort(key=lambda item: item["failed_at"])
    return {"items": items[:limit]}


@router.post(
    "/deadletters/replay",
    summary="Publish the pipeline's dead letters again; store the connectors' again",
)
async def replay_dead_letters(request: Request, topic: str | None = None) -> dict[str, int]:
    bus_topic = None if topic is not None and topic.endswith("/#") else topic
    replayed = 0
    if bus_topic == topic:
        replayed = await request.app.state.pipeline.bus.replay_dead_letters(topic)
    settings = request.app.state.settings
    stored, failing = await replay_connector_letters(
        request.app.state.db,
        request.app.state.ingestor,
        mqtt_prefixes(getattr(request.app.state, "connectors", None)),
        settings.mqtt_topic_prefix,
        topic,
    )
    return {"replayed": replayed + stored, "still_failing": failing}
