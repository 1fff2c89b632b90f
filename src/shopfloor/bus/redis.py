"""The Redis Streams bus: ``redis://host:port/db``, consumer groups shared by many processes.

Keys (``namespace`` defaults to "shopfloor"; topic names must not contain ':'):

* ``{ns}:{topic}`` — the topic's stream. XADD with an approximate MAXLEN (``maxlen``): Redis 7
  trims regardless of consumer groups, so ``maxlen`` must exceed the largest backlog a group may
  fall behind by. Each entry holds the envelope as fields: id, key, payload (JSON),
  schema_version, created_at, attempt.
* Consumer groups are created on a group's first consume (XGROUP CREATE … 0 MKSTREAM), starting
  at id 0: a group sees what was published before it existed (as far as MAXLEN kept it).
* ``{ns}:retry:{topic}:{group}`` — a sorted set of retries waiting for their due time (score,
  Redis server clock), and ``{ns}:retrying:{topic}:{group}`` — the group's retry stream, into
  which due retries are moved and from which they are delivered with receipts ``r:<entry id>``.
  Retries of one group do not reach the other groups, and a retry delivered this way is pending
  like any entry: ack, fail and the visibility timeout work on it. ``fail`` (XACK + schedule) and
  the move (ZREM + XADD + XREADGROUP) are Lua scripts, so no crash can lose or duplicate a retry.
* ``{ns}:deadletters`` — one stream of dead letters of all topics: topic, group, error, attempts,
  failed_at and the envelope as JSON. Replay publishes the envelope afresh, then XDELs the letter.

Reconnection: redis-py retries a command on ConnectionError/TimeoutError with exponential backoff
and jitter (``reconnect_attempts``); a command repeated after a lost reply may publish an entry
twice, which at-least-once delivery allows (handlers dedupe on the envelope id). When the retries
are exhausted the call raises ``BusUnavailable``. Redis restarted without persistence loses its
groups: a consume that meets NOGROUP creates the group again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from shopfloor.bus import redis_scripts
from shopfloor.bus.base import BusUnavailable, RetryPolicy
from shopfloor.bus.message import DeadLetter, Delivery, Envelope

RETRY_PREFIX = "r:"  # receipts of deliveries from the group's retry stream
PUBLISH_CHUNK = 1_000  # XADDs per pipeline round trip
_UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def _fields(envelope: Envelope) -> dict[str, bytes | str]:
    return {
        "id": envelope.id,
        "key": envelope.key,
        "payload": orjson.dumps(envelope.payload),
        "schema_version": str(envelope.schema_version),
        "created_at": repr(envelope.created_at),
        "attempt": str(envelope.attempt),
    }


def _from_fields(topic: str, fields: dict[bytes, bytes]) -> Envelope:
    return Envelope(
        topic=topic,
        key=fields[b"key"].decode(),
        payload=orjson.loads(fields[b"payload"]),
        id=fields[b"id"].decode(),
        schema_version=int(fields[b"schema_version"]),
        created_at=float(fields[b"created_at"]),
        attempt=int(fields[b"attempt"]),
    )


def _blob(envelope: Envelope) -> bytes:
    """The whole envelope as one JSON value: a retry set member, a dead letter's field."""
    return orjson.dumps(
        {
            "topic": envelope.topic,
            "id": envelope.id,
            "key": envelope.key,
            "payload": envelope.payload,
            "schema_version": envelope.schema_version,
            "created_at": envelope.created_at,
            "attempt": envelope.attempt,
        }
    )


def _from_blob(blob: bytes) -> Envelope:
    return Envelope(**orjson.loads(blob))


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


# Redis's own timer tick at the default hz 10: BLOCK timeouts shorter than this oversleep.
SERVER_TIMER_S = 0.1


class RedisBus:
    """Redis Streams with consumer groups; see the module docstring for the layout."""

    def __init__(
        self,
        client: Redis,
        *,
        namespace: str = "shopfloor",
        retry: RetryPolicy | None = None,
        visibility_timeout_s: float = 30.0,
        maxlen: int = 1_000_000,
        max_block_s: float = 5.0,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.retry = retry or RetryPolicy()
        self.visibility_timeout_s = visibility_timeout_s
        self.maxlen = maxlen
        self._max_block_s = max_block_s  # below the socket timeout: a BLOCK must not trip it
        self._groups: set[tuple[str, str]] = set()
        self._take = client.register_script(redis_scripts.TAKE)
        self._fail = client.register_script(redis_scripts.FAIL)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        reconnect_attempts: int = 10,
        health_check_interval: int = 15,
        socket_timeout_s: float = 10.0,
        **options: Any,
    ) -> RedisBus:
        client = Redis.from_url(
            url,
            retry=Retry(ExponentialWithJitterBackoff(cap=2.0, base=0.05), reconnect_attempts),
            retry_on_error=[redis_errors.ConnectionError, redis_errors.TimeoutError],
            health_check_interval=health_check_interval,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
        )
        options.setdefault("max_block_s", max(0.1, socket_timeout_s / 2))
        return cls(client, **options)

    def _stream(self, topic: str) -> str:
        return f"{self.namespace}:{topic}"

    def _keys(self, topic: str, group: str) -> list[str]:
        """The topic stream, the group's retry stream and its retry sorted set."""
        ns = self.namespace
        return [f"{ns}:{topic}", f"{ns}:retrying:{topic}:{group}", f"{ns}:retry:{topic}:{group}"]

    @property
    def _dead_key(self) -> str:
        return f"{self.namespace}:deadletters"

    @contextlib.asynccontextmanager
    async def _reachable(self) -> AsyncIterator[None]:
        try:
            yield
        except _UNREACHABLE as error:
            raise BusUnavailable(f"Redis cannot be reached: {error}") from error

    async def start(self) -> None:
        """Connections open on first use, so that a worker may start before Redis is up."""

    async def close(self) -> None:
        await self._client.aclose()

    async def ping(self) -> None:
        async with self._reachable():
            await self._client.ping()

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        async with self._reachable():
            for start in range(0, len(envelopes), PUBLISH_CHUNK):
                pipe = self._client.pipeline(transaction=False)
                for envelope in envelopes[start : start + PUBLISH_CHUNK]:
                    pipe.xadd(
                        self._stream(envelope.topic),
                        _fields(envelope),  # type: ignore[arg-type]
                        maxlen=self.maxlen,
                        approximate=True,
                    )
                await pipe.execute()

    async def _ensure_group(self, topic: str, group: str) -> None:
        if (topic, group) in self._groups:
            return
        for key in self._keys(topic, group)[:2]:
            try:
                await self._client.xgroup_create(key, group, id="0", mkstream=True)
            except redis_errors.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
        self._groups.add((topic, group))

    async def consume(
        self, topic: str, group: str, consumer: str, *, count: int, block_s: float
    ) -> list[Delivery]:
        if count <= 0:
            return []
        deadline = time.monotonic() + block_s
        async with self._reachable():
            for _ in range(3):  # NOGROUP: Redis lost the group (restart); create it again
                try:
                    return await self._consume(topic, group, consumer, count, deadline)
                except redis_errors.ResponseError as error:
                    if "NOGROUP" not in str(error):
                        raise
                    self._groups.discard((topic, group))
        return []

    async def _consume(
        self, topic: str, group: str, consumer: str, count: int, deadline: float
    ) -> list[Delivery]:
        await self._ensure_group(topic, group)
        keys = self._keys(topic, group)
        idle_ms = int(self.visibility_timeout_s * 1000)
        while True:
            entries, hint_ms = await self._take(keys=keys, args=[group, consumer, idle_ms, count])
            if entries:
                return [self._delivery(topic, *entry) for entry in entries]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # Block on the topic stream until a publish, or until a retry or an abandoned
            # delivery comes due (hint), which the next TAKE picks up.
            wait = min(remaining, self._max_block_s)
            if hint_ms >= 0:
                wait = min(wait, hint_ms / 1000)
            if wait < SERVER_TIMER_S:
                # Redis checks blocked clients' timeouts only every 1/hz s (100 ms by default):
                # a short BLOCK would oversleep a batch window. Wait here and look again.
                await asyncio.sleep(wait)
                continue
            reply = await self._client.xreadgroup(
                group, consumer, {keys[0]: ">"}, count=count, block=max(1, int(wait * 1000))
            )
            if reply:
                [(_, read)] = reply
                return [
                    Delivery(entry_id.decode(), _from_fields(topic, fields))
                    for entry_id, fields in read
                ]

    @staticmethod
    def _delivery(topic: str, source: bytes, entry_id: bytes, flat: list[bytes]) -> Delivery:
        fields = _pairs(flat)
        if source == b"r":
            return Delivery(RETRY_PREFIX + entry_id.decode(), _from_blob(fields[b"envelope"]))
        return Delivery(entry_id.decode(), _from_fields(topic, fields))

    async def ack(self, topic: str, group: str, receipts: Sequence[str]) -> None:
        if not receipts:
            return
        stream, retry_stream, _ = self._keys(topic, group)
        main = [r for r in receipts if not r.startswith(RETRY_PREFIX)]
        retried = [r[len(RETRY_PREFIX) :] for r in receipts if r.startswith(RETRY_PREFIX)]
        async with self._reachable():
            pipe = self._client.pipeline(transaction=False)
            if main:
                pipe.xack(stream, group, *main)
            if retried:
                # only this group reads its retry stream: a settled entry there can go
                pipe.xack(retry_stream, group, *retried)
                pipe.xdel(retry_stream, *retried)
            await pipe.execute()

    async def fail(self, topic: str, group: str, delivery: Delivery, error: str) -> bool:
        """Settle a failed delivery; a delivery no longer pending changes nothing (False)."""
        stream, retry_stream, retry_set = self._keys(topic, group)
        from_retry = delivery.receipt.startswith(RETRY_PREFIX)
        entry_id = delivery.receipt[len(RETRY_PREFIX) :] if from_retry else delivery.receipt
        envelope = delivery.envelope
        args: list[Any] = [group, entry_id, "1" if from_retry else "0"]
        if envelope.attempt >= self.retry.max_attempts:
            args += ["", "topic", topic, "group", group, "error", error]
            args += ["attempts", envelope.attempt, "failed_at", repr(time.time())]
            args += ["envelope", _blob(envelope)]
        else:
            args += [repr(self.retry.delay(envelope.attempt)), _blob(envelope.retried())]
        keys = [retry_stream if from_retry else stream, retry_set, self._dead_key]
        async with self._reachable():
            return await self._fail(keys=keys, args=args) == 1

    async def _dead_pages(self, page: int = 500) -> AsyncIterator[list[DeadLetter]]:
        start = "-"
        while True:
            entries = await self._client.xrange(self._dead_key, start, "+", count=page)
            if not entries:
                return
            yield [self._dead_letter(entry_id, fields) for entry_id, fields in entries]
            start = "(" + entries[-1][0].decode()

    @staticmethod
    def _dead_letter(entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
        return DeadLetter(
            receipt=entry_id.decode(),
            envelope=_from_blob(fields[b"envelope"]),
            group=fields[b"group"].decode(),
            error=fields[b"error"].decode(),
            attempts=int(fields[b"attempts"]),
            failed_at=float(fields[b"failed_at"]),
        )

    async def dead_letters(self, topic: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Oldest first."""
        found: list[DeadLetter] = []
        async with self._reachable():
            async for letters in self._dead_pages():
                found += [d for d in letters if topic is None or d.envelope.topic == topic]
                if len(found) >= limit:
                    break
        return found[:limit]

    async def replay_dead_letters(self, topic: str | None = None) -> int:
        replayed = 0
        async with self._reachable():
            async for letters in self._dead_pages():
                chosen = [d for d in letters if topic is None or d.envelope.topic == topic]
                if not chosen:
                    continue
                # publish first, delete after: an interrupted replay may repeat, never lose
                await self.publish([d.envelope.fresh() for d in chosen])
                await self._client.xdel(self._dead_key, *[d.receipt for d in chosen])
                replayed += len(chosen)
        return replayed

    async def lag_seconds(self, topic: str, group: str) -> float:
        """Age (by ``created_at``) of the oldest message the group has not settled, estimated
        from: the lowest pending id and the first undelivered entry of the topic stream, and the
        first 100 retries waiting or being retried. A group not created yet would start at the
        stream's first entry, so that entry's age is its lag."""
        stream, retry_stream, retry_set = self._keys(topic, group)
        async with self._reachable():
            created = await self._unsettled_created(stream, group)
            for _, fields in await self._client.xrange(retry_stream, count=100):
                created.append(_from_blob(fields[b"envelope"]).created_at)
            for member in await self._client.zrange(retry_set, 0, 99):
                created.append(_from_blob(member).created_at)
        if not created:
            return 0.0
        return max(0.0, time.time() - min(created))

    async def _unsettled_created(self, stream: str, group: str) -> list[float]:
        def entry_at(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[float]:
            return [float(fields[b"created_at"]) for _, fields in entries[:1]]

        try:
            groups = await self._client.xinfo_groups(stream)
        except redis_errors.ResponseError:  # no such stream: nothing was published
            return []
        info = next((g for g in groups if g["name"].decode() == group), None)
        if info is None:
            return entry_at(await self._client.xrange(stream, count=1))
        last = info["last-delivered-id"].decode()
        created = entry_at(await self._client.xrange(stream, f"({last}", "+", count=1))
        pending = await self._client.xpending(stream, group)
        if pending["pending"]:
            lowest = pending["min"].decode()
            created += entry_at(await self._client.xrange(stream, lowest, lowest))
        return created
