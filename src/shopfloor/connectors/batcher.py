"""Many small messages, one commit: the batcher between a connector and the ingestor.

A connector offers decoded messages without waiting; the batcher gathers them for at most
``max_wait_s`` (or until ``max_readings``), validates and commits them in one transaction, and
then acknowledges each. A message with a bad item (an unknown sensor, a value that is not
finite) goes to the dead letters with the reason and the rest of the batch is stored: one bad
machine never holds up the others. When the database is down nothing is acknowledged; the
batch is retried with backoff and ``room()`` holds the connector back meanwhile.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import numpy as np
import structlog

from shopfloor.connectors.base import ConnectorState, DeadLetterIn, Message
from shopfloor.connectors.deadletters import record_dead_letters
from shopfloor.connectors.status import note_error
from shopfloor.core.errors import ValidationFailed
from shopfloor.readings.columns import Columns
from shopfloor.readings.service import Ingestor
from shopfloor.storage import Database

log = structlog.get_logger("shopfloor.connectors")

RETRY_BASE_S = 0.2
RETRY_MAX_S = 10.0


class Batcher:
    def __init__(
        self,
        ingestor: Ingestor,
        db: Database,
        state: ConnectorState,
        *,
        max_readings: int = 20_000,
        max_wait_s: float = 0.02,
        max_backlog: int = 200_000,
    ) -> None:
        self.ingestor = ingestor
        self.db = db
        self.state = state
        self.max_readings = min(max_readings, ingestor.max_batch)
        self.max_wait_s = max_wait_s
        self.max_backlog = max_backlog
        self._messages: list[Message] = []
        self._letters: list[tuple[DeadLetterIn, Callable[[], None] | None]] = []
        self._backlog = 0
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._filled = asyncio.Event()

    # -- the connector's side -------------------------------------------------------------

    def offer(self, message: Message) -> None:
        """Queue a decoded message; its ``done`` runs once it is committed or dead-lettered."""
        self._messages.append(message)
        self._grew(_weight(message))

    def dead_letter(self, letter: DeadLetterIn, done: Callable[[], None] | None = None) -> None:
        """Queue a message that cannot be read; ``done`` runs once the letter is stored."""
        self._letters.append((letter, done))
        self._grew(1)

    async def room(self) -> None:
        """Wait while the backlog is full (the database is slow or down)."""
        while self._backlog >= self.max_backlog:
            self._drained.clear()
            await self._drained.wait()

    async def full(self) -> None:
        """Wait until the backlog is full."""
        while self._backlog < self.max_backlog:
            self._filled.clear()
            await self._filled.wait()

    @property
    def backlog(self) -> int:
        return self._backlog

    def _grew(self, size: int) -> None:
        self._backlog += size
        self._arrived.set()
        if self._backlog >= self.max_backlog:
            self._filled.set()

    # -- the writer -----------------------------------------------------------------------

    async def run(self) -> None:
        """Commit what arrives until cancelled; call ``drain`` after cancelling to finish."""
        while True:
            await self._arrived.wait()
            if self._backlog < self.max_readings:
                # Let a burst gather into one transaction.
                await asyncio.sleep(self.max_wait_s)
            await self.flush_with_retry()

    async def drain(self) -> None:
        while self._messages or self._letters:
            await self.flush_with_retry()

    async def flush_with_retry(self) -> None:
        attempt = 0
        while True:
            try:
                await self.flush()
                return
            except Exception as exc:  # the database is down or refused the transaction
                attempt += 1
                note_error(self.state, f"cannot store: {type(exc).__name__}: {exc}")
                delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** min(attempt, 10))
                log.warning(
                    "connector batch not stored; will retry",
                    connector=self.state.name,
                    error=str(exc)[:300],
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def flush(self) -> None:
        """Store one batch and the waiting dead letters, then acknowledge them."""
        self._arrived.clear()
        messages = self._take_batch()
        letters, self._letters = self._letters, []
        try:
            refused = await self._store(messages)
        except BaseException:
            self._requeue(messages, letters)
            raise
        # These readings are committed: acknowledge them before anything else can fail.
        refused_ids = {id(message) for _, message in refused}
        for message in messages:
            if id(message) not in refused_ids and message.done is not None:
                message.done()
        self._backlog -= sum(_weight(m) for m in messages if id(m) not in refused_ids)
        letters.extend((letter, message.done) for letter, message in refused)
        self._backlog += len(refused) - sum(_weight(m) for _, m in refused)
        if letters:
            try:
                await record_dead_letters(self.db, [letter for letter, _ in letters])
            except BaseException:
                self._requeue([], letters)
                raise
            for _, done in letters:
                if done is not None:
                    done()
            self._backlog -= len(letters)
            self.state.dead_letters += len(letters)
        if self._backlog < self.max_backlog:
            self._drained.set()
        if self._messages or self._letters:
            self._arrived.set()

    def _requeue(
        self, messages: list[Message], letters: list[tuple[DeadLetterIn, Callable[[], None] | None]]
    ) -> None:
        self._messages[:0] = messages
        self._letters[:0] = letters
        self._arrived.set()

    def _take_batch(self) -> list[Message]:
        taken = 0
        count = 0
        for message in self._messages:
            if count and taken + len(message) > self.max_readings:
                break
            taken += len(message)
            count += 1
        batch, self._messages = self._messages[:count], self._messages[count:]
        return batch

    async def store_now(self, messages: list[Message]) -> list[tuple[Message, str]]:
        """Commit ``messages`` at once (no acknowledgements); the refused ones with why."""
        return [(message, letter.reason) for letter, message in await self._store(messages)]

    async def _store(self, messages: list[Message]) -> list[tuple[DeadLetterIn, Message]]:
        """Commit the readings of ``messages``; return a dead letter for each one refused."""
        refused: list[tuple[DeadLetterIn, Message]] = []
        candidates = []
        for message in messages:
            if len(message) > self.ingestor.max_batch:
                reason = (
                    f"{len(message)} readings in one message; at most "
                    f"{self.ingestor.max_batch} are accepted"
                )
                refused.append((_letter(message, reason), message))
            elif len(message):
                candidates.append(message)
        while candidates:
            try:
                prepared = await self.ingestor.prepare(_columns(candidates))
            except ValidationFailed as exc:
                bad = _reasons_by_message(candidates, exc.errors or [])
                if not bad:  # an error naming no item: refuse the whole batch, say why
                    bad = dict.fromkeys(range(len(candidates)), str(exc.detail))
                refused.extend(
                    (_letter(candidates[i], why), candidates[i]) for i, why in bad.items()
                )
                candidates = [m for i, m in enumerate(candidates) if i not in bad]
                continue
            result = await self.ingestor.store_prepared(prepared)
            self.state.readings += result.accepted
            break
        return refused


def _weight(message: Message) -> int:
    return len(message) or 1


def _letter(message: Message, reason: str) -> DeadLetterIn:
    return DeadLetterIn(message.source, message.topic, message.payload, reason, received_at=None)


def _columns(messages: list[Message]) -> Columns:
    paths: list[str] = []
    ts: list[int] = []
    values: list[float] = []
    for message in messages:
        paths.extend(message.paths)
        ts.extend(message.ts_us)
        values.extend(message.values)
    return Columns(
        paths=paths,
        ts_raw=[],
        values_raw=[],
        form="readings",
        ts_us=np.asarray(ts, dtype=np.int64),
        values=np.asarray(values, dtype=np.float64),
    )


def _reasons_by_message(messages: list[Message], errors: list[dict[str, object]]) -> dict[int, str]:
    """Which messages hold the bad items, with the first problem of each."""
    ends = np.cumsum([len(m) for m in messages])
    reasons: dict[int, list[str]] = {}
    for error in errors:
        index = error.get("index")
        if not isinstance(index, int):
            continue
        owner = int(np.searchsorted(ends, index, side="right"))
        start = int(ends[owner - 1]) if owner else 0
        field = str(error.get("loc", ["", "", "item"])[-1])
        reasons.setdefault(owner, []).append(f"item {index - start} ({field}): {error['msg']}")
    return {
        owner: "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
        for owner, found in reasons.items()
    }
