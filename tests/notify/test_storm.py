"""Alarm storms: a channel's rate limit holds the flood back and sends it as digests."""

from __future__ import annotations

import asyncio
from datetime import datetime

from prometheus_client import REGISTRY

from tests.notify.conftest import alarm_event


def digests_sent(kind: str) -> float:
    return REGISTRY.get_sample_value("shopfloor_notify_digests_total", {"kind": kind}) or 0.0


async def storm_channel(notify, receiver, **config) -> dict:
    channel = await notify.channel(
        "storm",
        "webhook",
        {"url": receiver.url("/storm"), **config},
        rate_limit={"messages": 10, "window_s": 1},
    )
    await notify.subscribe(channel)
    return channel


async def test_a_storm_becomes_ten_messages_and_a_digest(notify, receiver):
    channel = await storm_channel(notify, receiver, secret="s")
    before = digests_sent("webhook")
    await notify.publish(*[alarm_event(alarm_id=n) for n in range(500)])
    rows = await notify.wait_statuses({"sent": 501}, within_s=15)

    requests = receiver.to("/storm")
    singles = [r for r in requests if r.json()["event"] == "alarm.opened"]
    digests = [r for r in requests if r.json()["event"] == "digest"]
    assert len(singles) == 10 and len(digests) == 1
    assert all(request.signed_with("s") for request in requests)
    # The singles went out within the first window, the digest once a slot freed: judged by
    # when each attempt started (what the limit counts), not by when the receiver saw it.
    assert singles[-1].at - singles[0].at < 1.0
    [digest_row] = [row for row in rows if row["event"] == "digest"]
    first_single = min(
        datetime.fromisoformat(row["attempted_at"])
        for row in rows
        if row["event"] == "alarm.opened" and row["digest_id"] is None
    )
    since_first = datetime.fromisoformat(digest_row["attempted_at"]) - first_single
    assert 1.0 <= since_first.total_seconds() < 3.0

    digest = digests[0].json()["digest"]
    assert digest["count"] == 490 and digest["alarm_count"] == 490
    assert digest["by_event"] == {"alarm.opened": 490}
    assert digest["by_severity"] == {"warning": 490}
    assert len(digest["listed"]) == 20 and digest["more"] == 470
    assert digest["limit"] == 10 and digest["window_s"] == 1.0
    assert digest["channel"] == "storm"

    assert digest_row["channel_id"] == channel["id"]
    folded = [row for row in rows if row["digest_id"] is not None]
    assert len(folded) == 490
    assert {row["digest_id"] for row in folded} == {digest_row["id"]}
    assert all(row["held_at"] is not None for row in folded)
    assert digests_sent("webhook") == before + 1


async def test_while_a_storm_lasts_each_window_brings_one_digest(notify, receiver):
    await storm_channel(notify, receiver)
    await notify.publish(*[alarm_event(alarm_id=n) for n in range(30)])
    await notify.wait_for(
        lambda: any(r.json()["event"] == "digest" for r in receiver.to("/storm")),
        what="the first digest",
    )
    # More of the storm right after the digest: held for the next digest, not sent one by one.
    await notify.publish(*[alarm_event(alarm_id=100 + n) for n in range(40)])
    rows = await notify.wait_statuses({"sent": 72}, within_s=15)
    events = [r.json()["event"] for r in receiver.to("/storm")]
    assert events == ["alarm.opened"] * 10 + ["digest", "digest"]
    second = receiver.to("/storm")[-1].json()["digest"]
    assert second["count"] == 40
    first, second_start = sorted(
        datetime.fromisoformat(row["attempted_at"]) for row in rows if row["event"] == "digest"
    )
    assert (second_start - first).total_seconds() >= 1.0  # a window after the first digest

    # The storm is over: once a window passes without a digest, messages go one by one again.
    await asyncio.sleep(1.1)  # the rate-limit window itself is what is being waited for
    await notify.publish(alarm_event(alarm_id=999))
    await notify.wait_for(lambda: len(receiver.to("/storm")) == 13, what="a single message")
    assert receiver.to("/storm")[-1].json()["alarm"]["id"] == 999


async def test_a_storm_spares_the_other_channels(notify, receiver):
    await storm_channel(notify, receiver)
    calm = await notify.channel("calm", "webhook", {"url": receiver.url("/calm")})
    await notify.subscribe(calm, scope="acme/paint")
    await notify.publish(*[alarm_event(alarm_id=n) for n in range(200)])
    await notify.publish(alarm_event(path="acme/paint/oven/temp"))
    [sent] = await notify.wait_statuses({"sent": 1}, channel_id=calm["id"], within_s=3)
    assert sent["attempts"] == 1

    async def all_sent() -> bool:
        rows = await notify.deliveries()
        alarms = [row for row in rows if row["event"] != "digest"]  # 201 storm + 1 calm
        return len(alarms) == 202 and all(row["status"] == "sent" for row in rows)

    await notify.wait_for(all_sent, what="every delivery sent")
