"""Which events reach which channel: scope, severity, events, reminders, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.notify.conftest import alarm_event

NIGHT_IN_BERLIN = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
QUIET = {"start": "22:00", "end": "06:00", "timezone": "Europe/Berlin"}


async def hook(notify, receiver, path: str, **subscription) -> dict:
    channel = await notify.channel(path.strip("/"), "webhook", {"url": receiver.url(path)})
    await notify.subscribe(channel, **subscription)
    return channel


def alarms_at(receiver, path: str) -> list[tuple[str, str, str]]:
    bodies = [request.json() for request in receiver.to(path)]
    return sorted((b["event"], b["alarm"]["path"], b["alarm"]["severity"]) for b in bodies)


async def test_scope_severity_and_events_choose_the_channels(notify, receiver):
    await hook(notify, receiver, "/line", scope="acme/press-line")
    await hook(notify, receiver, "/press2", scope="acme/press-line/press-2")
    await hook(notify, receiver, "/critical", scope="", min_severity="critical")
    await hook(notify, receiver, "/resolved", scope="acme", events=["alarm.resolved"])
    events = [
        alarm_event(path="acme/press-line/press-1/oil-temp", severity="warning"),
        alarm_event(path="acme/press-line/press-2/vibration", severity="critical"),
        # A sibling whose name starts like the scope is not under it.
        alarm_event(path="acme/press-line-2/press-9/temp", severity="critical"),
        alarm_event("alarm.resolved", path="acme/paint/oven/temp", severity="info"),
    ]
    await notify.publish(*events)
    await notify.wait_statuses({"sent": 6})
    assert alarms_at(receiver, "/line") == [
        ("alarm.opened", "acme/press-line/press-1/oil-temp", "warning"),
        ("alarm.opened", "acme/press-line/press-2/vibration", "critical"),
    ]
    assert alarms_at(receiver, "/press2") == [
        ("alarm.opened", "acme/press-line/press-2/vibration", "critical"),
    ]
    assert alarms_at(receiver, "/critical") == [
        ("alarm.opened", "acme/press-line-2/press-9/temp", "critical"),
        ("alarm.opened", "acme/press-line/press-2/vibration", "critical"),
    ]
    assert alarms_at(receiver, "/resolved") == [
        ("alarm.resolved", "acme/paint/oven/temp", "info"),
    ]


async def test_reminders_reach_the_subscribers_of_opened_alarms(notify, receiver):
    await hook(notify, receiver, "/opened", events=["alarm.opened"])
    await hook(notify, receiver, "/acks", events=["alarm.acknowledged"])
    await notify.publish(alarm_event("alarm.reminder"))
    await notify.wait_statuses({"sent": 1})
    assert [r.json()["event"] for r in receiver.to("/opened")] == ["alarm.reminder"]
    assert receiver.to("/acks") == []


async def test_two_subscriptions_of_one_channel_deliver_once(notify, receiver):
    channel = await hook(notify, receiver, "/twice", scope="acme")
    await notify.subscribe(channel, scope="acme/press-line")
    await notify.publish(alarm_event())
    await notify.wait_statuses({"sent": 1})
    assert len(receiver.requests) == 1


async def test_quiet_hours_let_only_critical_alarms_through(notify_factory, receiver):
    async with notify_factory(stage={"clock": lambda: NIGHT_IN_BERLIN}) as notify:
        await hook(notify, receiver, "/night", quiet_hours=QUIET)
        await hook(notify, receiver, "/always")
        await notify.publish(
            alarm_event(severity="warning", alarm_id=1),
            alarm_event(severity="critical", alarm_id=2),
            alarm_event("alarm.resolved", severity="info", alarm_id=3),
        )
        found = await notify.wait_statuses({"sent": 4, "skipped": 2})
        assert sorted(r.json()["alarm"]["id"] for r in receiver.to("/night")) == [2]
        assert len(receiver.to("/always")) == 3
        skipped = [item for item in found if item["status"] == "skipped"]
        assert sorted(item["alarm_id"] for item in skipped) == [1, 3]
        for item in skipped:
            assert item["last_error"] == (
                "quiet hours 22:00 to 06:00 Europe/Berlin: only critical alarms are sent"
            )
            assert item["attempts"] == 0 and item["sent_at"] is None
        listed = (await notify.api.get("/deliveries", params={"status": "skipped"})).json()
        assert len(listed["items"]) == 2


async def test_quiet_hours_follow_the_real_clock_in_their_time_zone(notify, receiver):
    # Quiet hours around "now" in a zone where it is night, and a window that already ended.
    tokyo = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    around_now = {
        "start": (tokyo - timedelta(hours=1)).strftime("%H:%M"),
        "end": (tokyo + timedelta(hours=1)).strftime("%H:%M"),
        "timezone": "Asia/Tokyo",
    }
    over = {
        "start": (tokyo - timedelta(hours=3)).strftime("%H:%M"),
        "end": (tokyo - timedelta(hours=2)).strftime("%H:%M"),
        "timezone": "Asia/Tokyo",
    }
    await hook(notify, receiver, "/quiet", quiet_hours=around_now)
    await hook(notify, receiver, "/awake", quiet_hours=over)
    await notify.publish(alarm_event(severity="warning"))
    await notify.wait_statuses({"sent": 1, "skipped": 1})
    assert len(receiver.to("/awake")) == 1 and receiver.to("/quiet") == []


async def test_a_disabled_channel_gets_nothing(notify, receiver):
    channel = await hook(notify, receiver, "/off")
    await notify.api.patch(f"/channels/{channel['id']}", json={"enabled": False})
    on = await hook(notify, receiver, "/on")
    await notify.publish(alarm_event())
    await notify.wait_statuses({"sent": 1}, channel_id=on["id"])
    assert await notify.deliveries(channel_id=channel["id"]) == []
    assert receiver.to("/off") == []


async def test_deliveries_can_be_listed_by_alarm(notify, receiver):
    await hook(notify, receiver, "/a")
    await hook(notify, receiver, "/b")
    await notify.publish(alarm_event(alarm_id=41), alarm_event(alarm_id=42))
    await notify.wait_statuses({"sent": 4})
    about_42 = await notify.deliveries(alarm_id=42)
    assert len(about_42) == 2 and {d["alarm_id"] for d in about_42} == {42}
