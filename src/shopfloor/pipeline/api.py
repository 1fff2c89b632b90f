"""HTTP: the dead letters of the bus this process uses, and their replay."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from shopfloor.bus.message import DeadLetter
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


@router.get("/deadletters", summary="Messages that kept failing, with their error")
async def list_dead_letters(
    request: Request,
    topic: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    letters = await request.app.state.pipeline.bus.dead_letters(topic, limit)
    return {"items": [dead_letter_json(letter) for letter in letters]}


@router.post("/deadletters/replay", summary="Publish dead letters again as fresh attempts")
async def replay_dead_letters(request: Request, topic: str | None = None) -> dict[str, int]:
    return {"replayed": await request.app.state.pipeline.bus.replay_dead_letters(topic)}
