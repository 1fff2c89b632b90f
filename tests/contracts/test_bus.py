"""The Bus contract: every backend (memory, Redis Streams) passes this one suite.

Retries are fast and without jitter here (so delays can be measured), and the visibility
timeout is short, so that the failure paths run in well under a second each.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from shopfloor.bus import Bus, BusUnavailable, Delivery, Envelope, RetryPolicy, create_bus
from shopfloor.bus.memory import MemoryBus
from tests.fixtures.servers import RedisServer, free_port, redis_server

RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=1.0, jitter=0.0)
VISIBILITY_S = 0.3
TOPIC = "readings.accepted"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    options: dict[str, object] = {"retry": RETRY, "visibility_timeout_s": VISIBILITY_S}
    if request.param == "memory":
        url = "memory://"
    else:
        server: RedisServer = request.getfixturevalue("redis_srv")
        url = server.url
        options["namespace"] = f"test-{uuid.uuid4().hex[:12]}"  # tests never see each other
    instance = create_bus(url, **options)
    await instance.start()
    yield instance
    await instance.close()


def envelopes(n: int, topic: str = TOPIC, **fields: object) -> list[Envelope]:
    return [
        Envelope(topic=topic, key=f"plant/line/m{i % 7}", payload={"i": i}, **fields)
        for i in range(n)
    ]


async def collect(
    bus: Bus,
    n: int,
    *,
    group: str = "g",
    consumer: str = "c",
    count: int = 100,
    within_s: float = 5,
) -> list[Delivery]:
    """Consume until ``n`` deliveries arrived (without acknowledging them)."""
    got: list[Delivery] = []
    deadline = time.monotonic() + within_s
    while len(got) < n and time.monotonic() < deadline:
        got += await bus.consume(
            TOPIC, group, consumer, count=min(count, n - len(got)), block_s=0.5
        )
    assert len(got) == n, f"expected {n} deliveries, got {len(got)}"
    return got


async def assert_nothing_more(bus: Bus, group: str = "g", block_s: float = 0.1) -> None:
    assert await bus.consume(TOPIC, group, "watcher", count=10, block_s=block_s) == []


async def test_round_trip_keeps_every_field(bus: Bus) -> None:
    sent = Envelope(
        topic=TOPIC,
        key="acme/press-line/press-1/oil-temp",
        payload={"value": 71.25, "ts": "2025-01-02T03:04:05Z", "tags": ["a", "ü"], "n": None},
        schema_version=3,
        created_at=1_700_000_000.123456,
    )
    await bus.publish([sent])
    [delivery] = await collect(bus, 1)
    assert delivery.envelope == sent
    assert delivery.envelope.attempt == 1
    await bus.ack(TOPIC, "g", [delivery.receipt])
    await assert_nothing_more(bus)


async def test_order_within_a_topic(bus: Bus) -> None:
    first, second = envelopes(50), envelopes(50)
    await bus.publish(first)
    await bus.publish(second)
    got = await collect(bus, 100, count=7)
    assert [d.envelope.id for d in got] == [e.id for e in first + second]
    await bus.ack(TOPIC, "g", [d.receipt for d in got])


async def test_each_group_sees_every_message(bus: Bus) -> None:
    sent = envelopes(20)
    await bus.publish(sent)
    for group in ("detect", "archive"):
        got = await collect(bus, 20, group=group)
        assert [d.envelope.id for d in got] == [e.id for e in sent]
        await bus.ack(TOPIC, group, [d.receipt for d in got])
        await assert_nothing_more(bus, group, block_s=0)


async def test_consumers_of_one_group_split_the_messages(bus: Bus) -> None:
    await bus.consume(TOPIC, "g", "a", count=1, block_s=0)  # the group exists from here on
    sent = envelopes(100)
    await bus.publish(sent)
    seen: dict[str, list[str]] = {"a": [], "b": []}
    while sum(map(len, seen.values())) < len(sent):
        for consumer in seen:
            batch = await bus.consume(TOPIC, "g", consumer, count=10, block_s=0.5)
            seen[consumer] += [d.envelope.id for d in batch]
            await bus.ack(TOPIC, "g", [d.receipt for d in batch])
    assert seen["a"] and seen["b"]
    assert not set(seen["a"]) & set(seen["b"])
    assert sorted(seen["a"] + seen["b"]) == sorted(e.id for e in sent)
    await assert_nothing_more(bus)


async def test_unacknowledged_delivery_goes_to_another_consumer_after_the_timeout(bus: Bus) -> None:
    [sent] = envelopes(1)
    await bus.publish([sent])
    [taken] = await collect(bus, 1, consumer="dies")
    delivered = time.monotonic()
    assert await bus.consume(TOPIC, "g", "survivor", count=10, block_s=0.1) == []
    assert time.monotonic() - delivered < VISIBILITY_S  # that empty answer came before the timeout

    [again] = await collect(bus, 1, consumer="survivor")
    assert time.monotonic() - delivered >= VISIBILITY_S - 0.01  # Redis counts idle time in ms
    assert again.envelope.id == sent.id
    await bus.ack(TOPIC, "g", [again.receipt])
    await bus.ack(TOPIC, "g", [taken.receipt])  # the late ack of the dead consumer is harmless
    await assert_nothing_more(bus, block_s=VISIBILITY_S + 0.1)


async def fail_until_dead(bus: Bus, sent: Envelope) -> list[float]:
    """Fail every delivery of ``sent``; returns the measured delay before each retry."""
    delays: list[float] = []
    delivery = (await collect(bus, 1))[0]
    for attempt in range(1, RETRY.max_attempts + 1):
        assert delivery.envelope.id == sent.id
        assert delivery.envelope.attempt == attempt
        failed = time.monotonic()
        dead = await bus.fail(TOPIC, "g", delivery, f"boom {attempt}")
        assert dead is (attempt == RETRY.max_attempts)
        if dead:
            break
        delivery = (await collect(bus, 1))[0]
        delays.append(time.monotonic() - failed)
    return delays


async def test_failed_message_is_retried_with_backoff_then_dead_lettered(bus: Bus) -> None:
    [poison, healthy] = envelopes(2)
    await bus.publish([poison])
    delays = await fail_until_dead(bus, poison)
    for attempt, delay in enumerate(delays, start=1):
        assert delay >= RETRY.delay(attempt) - 0.005, (attempt, delays)

    [letter] = await bus.dead_letters(TOPIC)
    assert letter.envelope.id == poison.id
    assert letter.envelope.payload == poison.payload
    assert letter.error == f"boom {RETRY.max_attempts}"
    assert letter.attempts == RETRY.max_attempts
    assert letter.group == "g"
    assert letter.failed_at == pytest.approx(time.time(), abs=5)
    assert await bus.dead_letters("another.topic") == []
    await assert_nothing_more(bus, block_s=RETRY.delay(RETRY.max_attempts) + 0.1)

    await bus.publish([healthy])  # the rest flows on
    [after] = await collect(bus, 1)
    assert after.envelope.id == healthy.id
    await bus.ack(TOPIC, "g", [after.receipt])


async def test_replayed_dead_letter_is_delivered_again_as_a_fresh_attempt(bus: Bus) -> None:
    [poison] = envelopes(1)
    await bus.publish([poison])
    await fail_until_dead(bus, poison)
    assert await bus.replay_dead_letters("another.topic") == 0
    assert len(await bus.dead_letters()) == 1

    assert await bus.replay_dead_letters(TOPIC) == 1
    assert await bus.dead_letters() == []
    [again] = await collect(bus, 1)
    assert again.envelope == poison  # same id, payload, created_at, and attempt 1
    await bus.ack(TOPIC, "g", [again.receipt])
    await assert_nothing_more(bus)


async def test_ten_thousand_messages_each_exactly_once(bus: Bus) -> None:
    sent = envelopes(10_000)
    await bus.publish(sent)
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + 20
    while sum(seen.values()) < len(sent) and time.monotonic() < deadline:
        batch = await bus.consume(TOPIC, "g", "c", count=1_000, block_s=0.5)
        seen.update(d.envelope.id for d in batch)
        await bus.ack(TOPIC, "g", [d.receipt for d in batch])
    assert set(seen) == {e.id for e in sent}
    assert max(seen.values()) == 1
    await assert_nothing_more(bus, block_s=VISIBILITY_S + 0.1)
    assert await bus.lag_seconds(TOPIC, "g") == 0


async def test_lag_is_the_age_of_the_oldest_unacknowledged_message(bus: Bus) -> None:
    assert await bus.lag_seconds(TOPIC, "g") == 0
    old = time.time() - 30
    await bus.consume(TOPIC, "g", "c", count=1, block_s=0)  # the group exists from here on
    await bus.publish(envelopes(3, created_at=old))
    assert await bus.lag_seconds(TOPIC, "g") >= 29  # unread
    pending = await collect(bus, 2)
    assert await bus.lag_seconds(TOPIC, "g") >= 29  # two pending, one unread
    await bus.ack(TOPIC, "g", [d.receipt for d in pending])
    assert await bus.lag_seconds(TOPIC, "g") >= 29  # still one unread
    rest = await collect(bus, 1)
    await bus.ack(TOPIC, "g", [d.receipt for d in rest])
    assert await bus.lag_seconds(TOPIC, "g") == 0


async def test_ping(bus: Bus) -> None:
    await bus.ping()


def test_unknown_scheme_names_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"memory://.*redis://"):
        create_bus("kafka://localhost:9092")


# --- memory bus: bounded, with backpressure ----------------------------------------------


async def test_memory_publish_waits_while_the_backlog_is_full() -> None:
    bus = MemoryBus(max_backlog=10, retry=RETRY, visibility_timeout_s=VISIBILITY_S)
    await bus.consume(TOPIC, "g", "c", count=1, block_s=0)
    await bus.publish(envelopes(10))
    blocked = asyncio.create_task(bus.publish(envelopes(5)))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(blocked), 0.2)

    got = await collect(bus, 5)
    assert not blocked.done()  # consumed is not settled: the backlog counts pending deliveries
    await bus.ack(TOPIC, "g", [d.receipt for d in got])
    await asyncio.wait_for(blocked, 2)
    assert len(await collect(bus, 10)) == 10


async def test_memory_batch_larger_than_the_backlog_goes_in_as_room_frees() -> None:
    bus = MemoryBus(max_backlog=10, retry=RETRY, visibility_timeout_s=VISIBILITY_S)
    await bus.consume(TOPIC, "g", "c", count=1, block_s=0)
    sent = envelopes(35)
    publishing = asyncio.create_task(bus.publish(sent))
    got: list[str] = []
    while len(got) < len(sent):
        batch = await bus.consume(TOPIC, "g", "c", count=4, block_s=1)
        got += [d.envelope.id for d in batch]
        await bus.ack(TOPIC, "g", [d.receipt for d in batch])
    await asyncio.wait_for(publishing, 2)
    assert got == [e.id for e in sent]


async def test_memory_topic_without_groups_keeps_the_newest_and_never_blocks() -> None:
    bus = MemoryBus(max_backlog=10, retry=RETRY, visibility_timeout_s=VISIBILITY_S)
    sent = envelopes(25)
    await asyncio.wait_for(bus.publish(sent), 1)
    got = await collect(bus, 10)
    assert [d.envelope.id for d in got] == [e.id for e in sent[-10:]]


async def test_memory_close_releases_a_blocked_publisher() -> None:
    bus = MemoryBus(max_backlog=1, retry=RETRY, visibility_timeout_s=VISIBILITY_S)
    await bus.consume(TOPIC, "g", "c", count=1, block_s=0)
    await bus.publish(envelopes(1))
    blocked = asyncio.create_task(bus.publish(envelopes(1)))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(blocked), 0.1)
    await bus.close()
    with pytest.raises(BusUnavailable):
        await asyncio.wait_for(blocked, 1)


# --- Redis: reconnects ---------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_publish_and_consume_work_again_after_a_restart() -> None:
    with redis_server() as server:
        bus = create_bus(server.url, retry=RETRY, visibility_timeout_s=VISIBILITY_S)
        await bus.start()
        try:
            await bus.publish(envelopes(3))
            got = await collect(bus, 3)
            await bus.ack(TOPIC, "g", [d.receipt for d in got])

            server.stop()  # without persistence: streams and groups are gone
            sent = envelopes(5)
            publishing = asyncio.create_task(bus.publish(sent))  # retries while Redis is down
            await asyncio.to_thread(server.start)
            await asyncio.wait_for(publishing, 10)
            again = await collect(bus, 5)
            assert [d.envelope.id for d in again] == [e.id for e in sent]
            await bus.ack(TOPIC, "g", [d.receipt for d in again])
            await bus.ping()
        finally:
            await bus.close()


@pytest.mark.redis
async def test_redis_unreachable_raises_bus_unavailable() -> None:
    bus = create_bus(f"redis://127.0.0.1:{free_port()}/0", reconnect_attempts=1)
    await bus.start()
    try:
        with pytest.raises(BusUnavailable):
            await bus.ping()
    finally:
        await bus.close()
