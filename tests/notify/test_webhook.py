"""Webhooks against a real HTTP receiver: body, signature, retries, dead letters, replays."""

from __future__ import annotations

import itertools
import time

from prometheus_client import REGISTRY

from shopfloor.bus.base import RetryPolicy
from tests.notify.conftest import alarm_event

PATIENT = RetryPolicy(max_attempts=10, base_delay_s=0.1, max_delay_s=0.3, jitter=0.2)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_webhook_gets_the_contract_body_signed_with_the_secret(notify, receiver):
    channel = await notify.webhook(receiver, config={"secret": "hush"})
    event = alarm_event(severity="critical", alarm_id=7)
    published = time.monotonic()
    await notify.publish(event)
    await notify.wait_for(lambda: len(receiver.requests) == 1, what="the webhook")
    request = receiver.requests[0]
    assert request.at - published < 1.0  # the first message of an alarm goes out at once
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.signed_with("hush")
    assert not request.signed_with("other")
    body = request.json()
    assert set(body) == {"event", "alarm", "sent_at"}
    assert body["event"] == "alarm.opened"
    assert body["alarm"] == event.payload["alarm"]
    assert body["sent_at"].endswith("Z")
    assert request.headers["x-shopfloor-event"] == "alarm.opened"

    [delivery] = await notify.wait_statuses({"sent": 1})
    assert request.headers["x-shopfloor-delivery"] == str(delivery["id"])
    assert delivery["channel_id"] == channel["id"]
    assert delivery["event_id"] == event.id
    assert delivery["alarm_id"] == 7 and delivery["attempts"] == 1
    assert delivery["sent_at"] is not None and delivery["last_error"] is None


async def test_without_a_secret_there_is_no_signature(notify, receiver):
    await notify.webhook(receiver)
    await notify.publish(alarm_event())
    await notify.wait_for(lambda: len(receiver.requests) == 1, what="the webhook")
    assert "x-shopfloor-signature" not in receiver.requests[0].headers


async def test_a_replayed_event_is_delivered_once(notify, receiver):
    await notify.webhook(receiver)
    event = alarm_event()
    await notify.publish(event)
    await notify.wait_statuses({"sent": 1})
    await notify.publish(event, alarm_event(event_id="outbox-later"))
    await notify.wait_statuses({"sent": 2})
    await notify.publish(event)  # and once more, mid-flight of nothing
    await notify.wait_for(lambda: len(receiver.requests) == 2, what="two requests")
    assert [r.json()["alarm"]["id"] for r in receiver.requests].count(
        event.payload["alarm"]["id"]
    ) == 1


async def test_a_failing_receiver_is_retried_then_dead_while_others_go_on(notify, receiver):
    receiver.statuses["/broken"] = 500
    broken = await notify.webhook(receiver, "/broken")
    healthy = await notify.webhook(receiver, "/fine")
    dead_before = metric("shopfloor_notify_deliveries_total", kind="webhook", status="dead")
    retries_before = metric("shopfloor_notify_failures_total", kind="webhook", outcome="retry")

    await notify.publish(alarm_event())
    [dead] = await notify.wait_statuses({"dead": 1}, channel_id=broken["id"])
    attempts = receiver.to("/broken")
    assert len(attempts) == 3 == dead["attempts"]  # FAST_RETRY: 3 attempts
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    # Backed off, doubling: FAST_RETRY waits 0.2 s then 0.4 s, less up to half of it (jitter).
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2
    assert "HTTP 500" in dead["last_error"] and "failing on purpose" in dead["last_error"]
    # The healthy channel got its message at once, not after the broken one gave up.
    assert receiver.to("/fine")[0].at < attempts[1].at

    listed = (await notify.api.get("/deliveries", params={"status": "dead"})).json()["items"]
    assert [item["id"] for item in listed] == [dead["id"]]
    assert (await notify.api.get(f"/deliveries/{dead['id']}")).json() == dead
    await notify.wait_statuses({"sent": 1}, channel_id=healthy["id"])
    after = metric("shopfloor_notify_deliveries_total", kind="webhook", status="dead")
    assert after == dead_before + 1
    retries = metric("shopfloor_notify_failures_total", kind="webhook", outcome="retry")
    assert retries == retries_before + 2
    scraped = (await notify.api.get("/metrics")).text
    assert 'shopfloor_notify_deliveries_total{kind="webhook",status="dead"}' in scraped
    assert "shopfloor_notify_pending " in scraped


async def test_a_client_error_is_dead_at_once(notify, receiver):
    receiver.statuses["/gone"] = 404
    channel = await notify.webhook(receiver, "/gone")
    await notify.publish(alarm_event())
    [dead] = await notify.wait_statuses({"dead": 1}, channel_id=channel["id"])
    assert dead["attempts"] == 1 and dead["last_error"].startswith("HTTP 404")
    assert len(receiver.to("/gone")) == 1


async def test_rate_limited_and_timeout_answers_are_retried(notify, receiver):
    receiver.statuses["/busy"] = 429
    channel = await notify.webhook(receiver, "/busy")
    await notify.publish(alarm_event())
    await notify.wait_for(lambda: len(receiver.to("/busy")) >= 2, what="a retry after 429")
    receiver.statuses["/busy"] = 200
    [delivery] = await notify.wait_statuses({"sent": 1}, channel_id=channel["id"])
    assert delivery["attempts"] >= 2


async def test_a_receiver_that_is_down_gets_the_message_once_it_is_back(notify_factory, receiver):
    async with notify_factory(retry=PATIENT) as notify:
        channel = await notify.webhook(receiver)
        await receiver.stop()  # the port now refuses connections
        await notify.publish(alarm_event())
        [failed] = await notify.wait_statuses({"failed": 1}, channel_id=channel["id"])
        assert "Connect" in failed["last_error"]
        await receiver.start()
        [sent] = await notify.wait_statuses({"sent": 1}, channel_id=channel["id"])
        assert sent["attempts"] >= 2 and sent["last_error"] is None
        assert len(receiver.requests) == 1


async def test_a_slow_receiver_times_out_without_holding_up_the_others(notify_factory, receiver):
    receiver.delays["/slow"] = 3.0
    async with notify_factory(delivery_timeout_s=0.5, claim_ttl_s=5.0) as notify:
        slow = await notify.webhook(receiver, "/slow")
        fast = await notify.webhook(receiver, "/fast")
        for _ in range(3):
            await notify.publish(alarm_event())
        await notify.wait_statuses({"sent": 3}, within_s=3.0, channel_id=fast["id"])
        [first, *_] = await notify.wait_statuses({"dead": 3}, within_s=10, channel_id=slow["id"])
        assert "no answer within 0.5 s" in first["last_error"]
