"""Timed alarm changes: escalation, reminders, resolving a cleared condition, closing, no_data."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shopfloor.alarms.clock import AlarmClock
from shopfloor.alarms.models import Alarm, AlarmRule
from shopfloor.core.clock import utcnow
from shopfloor.readings.store import store_for

OIL = "acme/press-line/press-1/oil-temp"  # limits 0..100 (see the plant fixture)


@pytest.fixture
def settings(settings):
    # The app's own clock stays out of the way: the tests tick theirs with chosen times.
    return settings.model_copy(update={"alarm_tick_s": 3600.0, "alarm_close_after_s": 600.0})


@pytest.fixture
def clock(app) -> AlarmClock:
    db = app.state.db
    return AlarmClock(db, store_for(db.dialect), app.state.pipeline.relay, close_after_s=600.0)


async def open_limits_alarm(client, app) -> Alarm:
    now = int(utcnow().timestamp())
    body = {"series": [{"sensor": OIL, "ts": [now - 1, now], "values": [150.0, 150.0]}]}
    assert (await client.post("/readings", json=body)).status_code == 202
    for _ in range(400):
        async with app.state.db.read() as session:
            alarm = await session.scalar(select(Alarm).where(Alarm.rule == "limits"))
        if alarm is not None:
            return alarm
        await asyncio.sleep(0.05)
    raise AssertionError("no alarm opened")


async def reload(app, alarm_id: int) -> Alarm:
    async with app.state.db.read() as session:
        return await session.get(Alarm, alarm_id)


async def test_unacknowledged_alarm_escalates_once_then_reminds(app, client, plant, clock):
    alarm = await open_limits_alarm(client, app)

    assert await clock.tick(utcnow() + timedelta(seconds=60)) == []
    escalated = await clock.tick(utcnow() + timedelta(seconds=901))
    again = await clock.tick(utcnow() + timedelta(seconds=902))
    reminded = await clock.tick(utcnow() + timedelta(seconds=901 + 1801))

    assert [e.envelope.payload["event"] for e in escalated] == ["alarm.escalated"]
    assert escalated[0].envelope.payload["alarm"]["severity"] == "critical"
    assert again == []
    assert [e.envelope.payload["event"] for e in reminded] == ["alarm.reminder"]
    stored = await reload(app, alarm.id)
    assert (stored.severity, stored.escalation_level) == ("critical", 1)


async def test_acknowledged_alarm_neither_escalates_nor_reminds(app, client, plant, clock):
    alarm = await open_limits_alarm(client, app)
    async with app.state.db.write() as session:
        await session.execute(
            update(Alarm).where(Alarm.id == alarm.id).values(state="acknowledged")
        )

    assert await clock.tick(utcnow() + timedelta(hours=5)) == []


async def test_a_cleared_alarm_resolves_by_wall_time_and_closes_later(app, client, plant, clock):
    alarm = await open_limits_alarm(client, app)
    cleared = utcnow()
    async with app.state.db.write() as session:
        await session.execute(update(Alarm).where(Alarm.id == alarm.id).values(cleared_at=cleared))

    assert await clock.tick(cleared + timedelta(seconds=10)) == []  # clear_seconds is 30
    resolved = await clock.tick(cleared + timedelta(seconds=31))
    await clock.tick(cleared + timedelta(seconds=31 + 601))

    assert [e.envelope.payload["event"] for e in resolved] == ["alarm.resolved"]
    assert resolved[0].envelope.payload["alarm"]["resolution"] == "condition"
    stored = await reload(app, alarm.id)
    assert (stored.state, stored.resolution) == ("closed", "condition")


async def test_a_silent_sensor_raises_no_data(app, client, plant, clock):
    await client.patch(f"/sensors/{plant[OIL]}", json={"sampling_interval_s": 10})
    now = int(utcnow().timestamp())
    body = {"series": [{"sensor": OIL, "ts": [now], "values": [50.0]}]}
    assert (await client.post("/readings", json=body)).status_code == 202

    assert await clock.tick(utcnow()) == []  # the clock sees the newest reading arrive
    assert await clock.tick(utcnow() + timedelta(seconds=30)) == []  # 3 intervals: fine
    opened = await clock.tick(utcnow() + timedelta(seconds=51))  # 5 intervals silent
    twice = await clock.tick(utcnow() + timedelta(seconds=80))

    assert [e.envelope.payload["event"] for e in opened] == ["alarm.opened"]
    document = opened[0].envelope.payload["alarm"]
    assert (document["rule"], document["kind"], document["path"]) == ("no_data", "no_data", OIL)
    assert twice == []


async def test_a_disabled_rule_is_not_applied(app, client, plant, clock):
    async with app.state.db.write() as session:
        await session.execute(
            update(AlarmRule).where(AlarmRule.name == "no_data").values(enabled=False)
        )
    await client.patch(f"/sensors/{plant[OIL]}", json={"sampling_interval_s": 10})
    now = int(utcnow().timestamp())
    body = {"series": [{"sensor": OIL, "ts": [now], "values": [50.0]}]}
    assert (await client.post("/readings", json=body)).status_code == 202

    assert await clock.tick(utcnow()) == []
    assert await clock.tick(utcnow() + timedelta(hours=1)) == []


async def test_a_backfill_of_old_readings_is_not_silence(app, client, plant, clock):
    await client.patch(f"/sensors/{plant[OIL]}", json={"sampling_interval_s": 10})
    two_hours_ago = int(utcnow().timestamp()) - 7200
    for step in range(3):  # old readings keep arriving, each batch newer than the last
        first = two_hours_ago + 600 * step
        body = {"series": [{"sensor": OIL, "ts": [first, first + 10], "values": [50.0, 50.0]}]}
        assert (await client.post("/readings", json=body)).status_code == 202
        assert await clock.tick(utcnow() + timedelta(seconds=40 * step)) == []
