"""The delivery engine: several workers, crashed claims, stopping, failing digests."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import delete

from shopfloor.bus.base import RetryPolicy
from shopfloor.core.clock import utcnow
from shopfloor.notify.models import Channel, Delivery
from shopfloor.notify.worker import DeliveryWorker
from tests.notify.conftest import FAST_RETRY, alarm_event

PATIENT_RETRY = RetryPolicy(max_attempts=10, base_delay_s=0.3, max_delay_s=0.5, jitter=0.2)


async def test_two_workers_share_the_work_and_send_nothing_twice(notify, receiver):
    for path in ("/a", "/b", "/c"):
        channel = await notify.channel(
            path, "webhook", {"url": receiver.url(path)}, rate_limit={"messages": 1000}
        )
        await notify.subscribe(channel)
    second = DeliveryWorker(notify.database, retry=FAST_RETRY, poll_s=0.02, name="second")
    notify.stage.wake = lambda: (notify.worker.wake(), second.wake())
    async with second:
        await notify.publish(*[alarm_event(alarm_id=n) for n in range(60)])
        await notify.wait_statuses({"sent": 180}, within_s=15)
    ids = Counter(request.headers["x-shopfloor-delivery"] for request in receiver.requests)
    assert len(ids) == 180 and set(ids.values()) == {1}


async def test_a_claim_left_by_a_crashed_worker_is_taken_over(notify, receiver):
    channel = await notify.webhook(receiver)
    now = utcnow()
    async with notify.database.write() as session:
        row = Delivery(
            channel_id=channel["id"],
            event_id="outbox-crashed",
            event="alarm.opened",
            path="acme/press-line/press-1/oil-temp",
            severity="warning",
            status="sending",
            attempts=1,
            next_attempt_at=now - timedelta(seconds=30),
            attempted_at=now - timedelta(seconds=30),
            claimed_by="a-worker-that-died",
            claimed_until=now - timedelta(seconds=1),
            created_at=now - timedelta(seconds=30),
            payload=alarm_event(event_id="outbox-crashed").payload,
        )
        session.add(row)
    notify.worker.wake()
    [delivery] = await notify.wait_statuses({"sent": 1})
    assert delivery["attempts"] == 2
    assert len(receiver.requests) == 1


async def test_stopping_hands_unfinished_deliveries_back(notify_factory, receiver):
    receiver.delays["/slow"] = 5.0
    async with notify_factory() as notify:
        channel = await notify.webhook(receiver, "/slow")
        await notify.publish(alarm_event())
        await notify.wait_for(lambda: len(receiver.requests) == 1, what="the attempt")
        await notify.worker.stop(timeout_s=0.1)
        [handed_back] = await notify.deliveries()
        assert handed_back["status"] == "pending" and handed_back["attempts"] == 0
        receiver.delays.clear()
        async with DeliveryWorker(notify.database, retry=FAST_RETRY, poll_s=0.05):
            await notify.wait_statuses({"sent": 1}, channel_id=channel["id"])


async def test_a_digest_that_fails_takes_its_deliveries_with_it(notify, receiver):
    receiver.statuses["/down"] = 503
    channel = await notify.channel(
        "down",
        "webhook",
        {"url": receiver.url("/down")},
        rate_limit={"messages": 5, "window_s": 1},
    )
    await notify.subscribe(channel)
    await notify.publish(*[alarm_event(alarm_id=n) for n in range(30)])
    rows = await notify.wait_statuses({"dead": 31}, within_s=20)  # 30 alarms and a digest
    digests = [row for row in rows if row["event"] == "digest"]
    assert len(digests) == 1 and digests[0]["attempts"] == FAST_RETRY.max_attempts
    folded = [row for row in rows if row["digest_id"] == digests[0]["id"]]
    assert folded and all(
        row["last_error"].startswith(f"digest {digests[0]['id']}: HTTP 503") for row in folded
    )
    # The receiver was spared: far fewer requests than 30 alarms times 3 attempts.
    assert len(receiver.requests) <= 5 * FAST_RETRY.max_attempts + FAST_RETRY.max_attempts


async def test_deliveries_of_a_channel_disabled_meanwhile_are_skipped(notify_factory, receiver):
    async with notify_factory(retry=PATIENT_RETRY) as notify:
        channel = await notify.webhook(receiver)
        await receiver.stop()
        await notify.publish(alarm_event())
        await notify.wait_statuses({"failed": 1})
        response = await notify.api.patch(f"/channels/{channel['id']}", json={"enabled": False})
        assert response.status_code == 200
        [skipped] = await notify.wait_statuses({"skipped": 1})
        assert skipped["last_error"] == "the channel is disabled"


async def test_a_channel_deleted_by_another_process_does_not_block_the_others(
    notify_factory, receiver
):
    async with notify_factory(stage={"cache_ttl_s": 60.0}) as notify:
        gone = await notify.webhook(receiver, "/gone")
        kept = await notify.webhook(receiver, "/kept")
        await notify.publish(alarm_event())
        await notify.wait_statuses({"sent": 2})  # the stage has read the subscriptions
        async with notify.database.write() as session:  # not through this process's API
            await session.execute(delete(Channel).where(Channel.id == gone["id"]))
        await notify.publish(alarm_event())
        await notify.wait_statuses({"sent": 2}, channel_id=kept["id"])
        assert len(receiver.to("/gone")) == 1
