"""Dead letters of the connectors: stored in the database, listed, and replayed.

A replay reads the payload again with the decoder of its connector kind and offers it for
storage; a letter that still cannot be stored stays, with the new reason and one more attempt.
Rejected values (an OPC-UA bad status) are a record, not a replayable message.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

from sqlalchemy import delete, insert, select, update

from shopfloor.connectors.base import REJECTED, DeadLetterIn, Message, Unreadable
from shopfloor.connectors.models import ConnectorDeadLetter
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


def topic_filter(topic: str | None):
    """``T`` matches the topic ``T``; ``T/#`` (as in MQTT) matches ``T`` and everything below."""
    if topic is None:
        return True
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


Decode = Callable[[ConnectorDeadLetter], Message]


async def replay_dead_letters(
    db: Database,
    decode: Decode,
    store: Callable[[list[Message]], object],
    *,
    topic: str | None = None,
    page: int = 500,
) -> tuple[int, int]:
    """Decode and store the replayable letters again; returns (replayed, still failing).

    ``decode`` raises ``Unreadable`` when a letter still cannot be read; ``store`` is awaited
    with the decoded messages and returns the dead letters it refused, as (message, reason).
    A letter is deleted only once its readings are committed.
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
                decoded.append((letter, decode(letter)))
            except Unreadable as exc:
                reasons[letter.id] = str(exc)
        refused = await store([message for _, message in decoded])  # type: ignore[misc]
        by_message = {id(message): reason for message, reason in refused}  # type: ignore[attr-defined]
        for letter, message in decoded:
            if id(message) in by_message:
                reasons[letter.id] = by_message[id(message)]
        done = [letter.id for letter in letters if letter.id not in reasons]
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
