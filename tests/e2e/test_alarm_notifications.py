"""From a reading to a person: a breach opens an alarm, the webhook and the e-mail arrive, an
acknowledgement is announced, the alarm resolves itself once the value is back; and a storm
over 500 sensors turns into a bounded number of messages, every delivery accounted for.

In-process app with its pipeline, a real SMTP server (aiosmtpd) and a real HTTP receiver that
checks the signature.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from shopfloor.alarms.models import Alarm
from shopfloor.core.clock import utcnow
from tests.notify.receivers import HttpReceiver, SmtpReceiver

OIL = "acme/press-line/press-1/oil-temp"  # limits 0..100 (see the plant fixture)
SECRET = "s3cret-signing-key"
T = TypeVar("T")

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(settings, smtp):
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "alarm_tick_s": 0.2}
    )


@pytest.fixture
def smtp():
    server = SmtpReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    server = HttpReceiver()
    await server.start()
    yield server
    await server.stop()


async def until(check: Callable[[], object], what: str, limit_s: float = 20.0) -> float:
    """Wait for ``check()`` to be true; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit_s:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def subscribe(client, receiver: HttpReceiver, **channel) -> None:
    hook = await client.post(
        "/channels",
        json={
            "name": "hook",
            "kind": "webhook",
            "config": {"url": receiver.url(), "secret": SECRET},
        }
        | channel,
    )
    mail = await client.post(
        "/channels", json={"name": "mail", "kind": "email", "config": {"to": ["ops@example.com"]}}
    )
    assert hook.status_code == 201 and mail.status_code == 201, (hook.text, mail.text)
    events = ["alarm.opened", "alarm.acknowledged", "alarm.resolved"]
    for channel_id in (hook.json()["id"], mail.json()["id"]):
        response = await client.post(
            "/subscriptions",
            json={
                "channel_id": channel_id,
                "scope": "acme",
                "min_severity": "info",
                "events": events,
            },
        )
        assert response.status_code == 201, response.text


async def eventually(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, limit_s: float = 60
) -> T:
    """Read until ``done(value)``; the last value read."""
    start = time.monotonic()
    value = await read()
    while not done(value) and time.monotonic() - start < limit_s:
        await asyncio.sleep(0.1)
        value = await read()
    assert done(value), f"timed out waiting for {what}"
    return value


def events_at(receiver: HttpReceiver) -> list[str]:
    return [request.json()["event"] for request in receiver.to("/hook")]


async def post(client, values: list[float], first: int) -> None:
    body = {
        "series": [{"sensor": OIL, "ts": list(range(first, first + len(values))), "values": values}]
    }
    assert (await client.post("/readings", json=body)).status_code == 202


async def test_breach_to_webhook_and_mail_then_acknowledge_then_resolve(
    app, client, plant, receiver, smtp
):
    await subscribe(client, receiver)
    rules = (await client.get("/alarm-rules")).json()["items"]
    limits = next(rule for rule in rules if rule["name"] == "limits")
    response = await client.patch(
        f"/alarm-rules/{limits['id']}", json={"params": {"deadband_percent": 2, "clear_seconds": 2}}
    )
    assert response.status_code == 200, response.text

    start = int(utcnow().timestamp()) - 60
    await post(client, [50.0] * 5 + [150.0], start)
    webhook_s = await until(lambda: "alarm.opened" in events_at(receiver), "the webhook")
    mail_s = await until(lambda: smtp.mails, "the e-mail")

    assert webhook_s < 1.0 and mail_s < 1.0, (webhook_s, mail_s)
    print(f"breach → webhook {webhook_s:.3f} s, e-mail {mail_s:.3f} s")
    [opened] = receiver.to("/hook")
    assert opened.signed_with(SECRET)
    alarm = opened.json()["alarm"]
    assert (alarm["path"], alarm["rule"], alarm["state"], alarm["value"]) == (
        OIL,
        "limits",
        "open",
        150.0,
    )
    assert "oil-temp" in smtp.mails[0].subject

    acknowledged = await client.post(f"/alarms/{alarm['id']}/acknowledge", json={"note": "on it"})
    assert acknowledged.status_code == 200, acknowledged.text
    await until(lambda: "alarm.acknowledged" in events_at(receiver), "alarm.acknowledged")

    # Back to normal: the condition stays clear past clear_seconds and the alarm resolves itself.
    await post(client, [50.0] * 5, start + 6)
    await until(lambda: "alarm.resolved" in events_at(receiver), "alarm.resolved")
    resolved = (await client.get(f"/alarms/{alarm['id']}")).json()
    assert (resolved["state"], resolved["resolution"], resolved["resolved_by"]) == (
        "resolved",
        "condition",
        None,
    )
    assert [n["text"] for n in resolved["notes"]] == ["on it"]


async def test_an_alarm_storm_becomes_digests_and_every_delivery_is_accounted_for(
    app, client, plant, receiver
):
    sensors = [f"acme/press-line/press-1/probe-{n:03d}" for n in range(500)]
    for path in sensors:
        response = await client.post(
            "/sensors", json={"path": path, "low_limit": 0, "high_limit": 100}
        )
        assert response.status_code == 201, response.text
    # Ten messages per 5 s window, so that the digest comes within the test's patience.
    hook = await client.post(
        "/channels",
        json={
            "name": "storm",
            "kind": "webhook",
            "config": {"url": receiver.url("/storm")},
            "rate_limit": {"messages": 10, "window_s": 5},
        },
    )
    assert hook.status_code == 201, hook.text
    subscription = {
        "channel_id": hook.json()["id"],
        "scope": "acme",
        "min_severity": "info",
        "events": ["alarm.opened"],
    }
    assert (await client.post("/subscriptions", json=subscription)).status_code == 201

    # 5,000 breaches: ten per sensor, posted in ten requests.
    now = int(utcnow().timestamp()) - 20
    for second in range(10):
        body = {
            "readings": [{"sensor": path, "ts": now + second, "value": 150.0} for path in sensors]
        }
        assert (await client.post("/readings", json=body)).status_code == 202

    async def alarm_counts() -> tuple[int, int]:
        async with app.state.db.read() as session:
            rows = await session.execute(
                select(func.count(), func.coalesce(func.sum(Alarm.count), 0)).where(
                    Alarm.rule == "limits", Alarm.state != "closed"
                )
            )
            return tuple(rows.one())

    counts = await eventually(alarm_counts, lambda c: c == (500, 5000), "the alarms")
    assert counts == (500, 5000)

    async def settled() -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/deliveries", params=params)).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def all_final(deliveries: list[dict]) -> bool:
        opened = [d for d in deliveries if d["event"] == "alarm.opened"]
        return len(opened) == 500 and all(d["status"] in ("sent", "dead") for d in deliveries)

    deliveries = await eventually(settled, all_final, "every delivery settled", limit_s=90)
    assert all(d["status"] == "sent" for d in deliveries), {d["status"] for d in deliveries}
    # The rate limit turned the storm into ten messages and digests of the rest.
    requests = [r.json() for r in receiver.to("/storm")]
    singles = [r for r in requests if r["event"] == "alarm.opened"]
    digests = [r["digest"] for r in requests if r["event"] == "digest"]
    assert len(singles) <= 10 and 1 <= len(digests) <= 5, (len(singles), len(digests))
    assert len(singles) + sum(d["count"] for d in digests) == 500
    print(f"storm: {len(singles)} messages and {len(digests)} digests for 500 alarms")
