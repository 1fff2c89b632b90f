"""Dead letters of the connectors: stored in the database, listed, and replayed.

A replay reads the payload again with the decoder of its connector kind and offers it for
storage; a letter that still cannot be stored stays, with the new reason and one more attempt.
Rejected values (an OPC-UA bad status) are a record, not a replayable message.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, true, update

from shopfloor.connectors.base import REJECTED, DeadLetterIn, Message, Unreadable
from shopfloor.connectors.models import ConnectorDeadLetter
from shopfloor.core.clock import rfc3339
from shopfloor.storage import Database


def _utc(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)


async def record_dead_letters(db: Database, letters: Sequence[DeadLetterIn]) -> None:
    """Store letters in one transaction."""
    now = time.time()
    rows = [
        {
            "source": letter.source,
            "topic": letter.topic[:512],
            "payload": letter.payload,
            "reason": letter.reason,
            "kind": letter.kind,
            "received_at": _utc(letter.received_at or now),
            "attempts": 1,
        }
        for letter in letters
    ]
    async with db.write() as session:
        await session.execute(insert(ConnectorDeadLetter), rows)


def topic_filter(topic: str | None) -> ColumnElement[bool]:
    """``T`` matches the topic ``T``; ``T/#`` (as in MQTT) matches ``T`` and everything below."""
    if topic is None:
        return true()
    if topic.endswith("/#"):
        base = topic[:-2]
        return (ConnectorDeadLetter.topic == base) | ConnectorDeadLetter.topic.startswith(
            base + "/", autoescape=True
        )
    return ConnectorDeadLetter.topic == topic


async def list_dead_letters(
    db: Database, *, topic: str | None = None, limit: int = 100, after_id: int | None = None
) -> list[ConnectorDeadLetter]:
    """Oldest first."""
    query = select(ConnectorDeadLetter).where(topic_filter(topic))
    if after_id is not None:
        query = query.where(ConnectorDeadLetter.id > after_id)
    async with db.read() as session:
        rows = await session.scalars(query.order_by(ConnectorDeadLetter.id).limit(limit))
        return list(rows)


async def replay_dead_letters(
    db: Database,
    decode: Callable[[ConnectorDeadLetter], Message | None],
    store: Callable[[list[Message]], Awaitable[list[tuple[Message, str]]]],
    *,
    topic: str | None = None,
    page: int = 500,
) -> tuple[int, int]:
    """Decode and store the replayable letters again; returns (replayed, still failing).

    ``decode`` returns None for a letter it cannot replay (left as it is) and raises
    ``Unreadable`` for one that still cannot be read; ``store`` commits messages and returns
    the refused ones with why. A letter is deleted only once its readings are committed; one
    that fails again keeps the new reason and counts one more attempt.
    """
    replayed = failing = 0
    after = 0
    while True:
        async with db.read() as session:
            letters = list(
                await session.scalars(
                    select(ConnectorDeadLetter)
                    .where(topic_filter(topic), ConnectorDeadLetter.kind != REJECTED)
                    .where(ConnectorDeadLetter.id > after)
                    .order_by(ConnectorDeadLetter.id)
                    .limit(page)
                )
            )
        if not letters:
            return replayed, failing
        after = letters[-1].id
        decoded: list[tuple[ConnectorDeadLetter, Message]] = []
        reasons: dict[int, str] = {}
        for letter in letters:
            try:
                message = decode(letter)
            except Unreadable as exc:
                reasons[letter.id] = str(exc)
                continue
            if message is not None:
                decoded.append((letter, message))
        refused = {id(message): why for message, why in await store([m for _, m in decoded])}
        for letter, message in decoded:
            if id(message) in refused:
                reasons[letter.id] = refused[id(message)]
        done = [letter.id for letter, message in decoded if letter.id not in reasons]
        async with db.write() as session:
            if done:
                await session.execute(
                    delete(ConnectorDeadLetter).where(ConnectorDeadLetter.id.in_(done))
                )
            for letter_id, reason in reasons.items():
                await session.execute(
                    update(ConnectorDeadLetter)
                    .where(ConnectorDeadLetter.id == letter_id)
                    .values(reason=reason, attempts=ConnectorDeadLetter.attempts + 1)
                )
        replayed += len(done)
        failing += len(reasons)


def connector_letter_json(letter: ConnectorDeadLetter) -> dict[str, Any]:
    try:
        payload, encoding = letter.payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(letter.payload).decode(), "base64"
    failed_at = rfc3339(letter.received_at)
    return {
        "source": letter.source,
        "id": f"connector-{letter.id}",
        "topic": letter.topic,
        "key": None,
        "group": None,
        "kind": letter.kind,
        "error": letter.reason,
        "attempts": letter.attempts,
        "failed_at": failed_at,
        "created_at": failed_at,
        "payload": payload,
        "payload_encoding": encoding,
    }


def mqtt_prefixes(runner: Any) -> dict[str, str]:
    """Topic prefix of each MQTT connector a runner knows (running or defined)."""
    if runner is None:
        return {}
    found = {s.name: s.topic_prefix for s, _ in runner.fixed if s.kind == "mqtt"}
    for name, entry in runner.running.items():
        if entry.settings.kind == "mqtt":
            found[name] = entry.settings.topic_prefix
    return found
