"""Readings flow from ingest through ``detect`` and ``alarm``: every breach counted once."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from shopfloor.alarms.models import Alarm
from shopfloor.readings.columns import flatten
from shopfloor.readings.service import build_ingestor
from shopfloor.storage import Database

OIL = "acme/press-line/press-1/oil-temp"  # limits 0..100 (see the plant fixture)
DEADLINE_S = 20


async def _alarms(app) -> list[Alarm]:
    """The ``limits`` alarms, oldest first (the detector's ``anomaly`` alarms are left out)."""
    async with app.state.db.read() as session:
        query = select(Alarm).where(Alarm.rule == "limits").order_by(Alarm.id)
        return list((await session.scalars(query)).all())


async def _wait_for_count(app, expected: int) -> list[Alarm]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        alarms = await _alarms(app)
        if sum(a.count for a in alarms) >= expected or time.monotonic() > deadline:
            return alarms
        await asyncio.sleep(0.05)


def _series(start: int, values: list[float]) -> dict:
    return {
        "series": [{"sensor": OIL, "ts": list(range(start, start + len(values))), "values": values}]
    }


async def test_breaches_open_one_alarm_counting_each_once(app, client, plant):
    values = [50.0] * 100 + [150.0] * 7 + [99.0] * 20 + [-5.0] * 3
    assert (await client.post("/readings", json=_series(1_700_000_000, values))).status_code == 202
    # The same readings again (a client retry) and an overlapping batch: nothing new to count.
    await client.post("/readings", json=_series(1_700_000_000, values))
    await client.post("/readings", json=_series(1_700_000_100, [150.0] * 7))

    alarms = await _wait_for_count(app, 10)

    # 99 is inside the limits but within the deadband (2 % of 0..100): the alarm never cleared.
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm.sensor_id, alarm.rule, alarm.state, alarm.count) == (
        plant[OIL],
        "limits",
        "open",
        10,
    )
    assert alarm.value == -5.0


async def test_a_cleared_condition_resolves_and_a_recurrence_opens_a_new_alarm(app, client, plant):
    # 1 s apart: 40 clear readings outlast the rule's default clear_seconds (30).
    values = [50.0] * 10 + [150.0] * 5 + [50.0] * 40 + [-5.0] * 3
    assert (await client.post("/readings", json=_series(1_700_003_000, values))).status_code == 202

    alarms = await _wait_for_count(app, 8)

    assert [(a.state, a.resolution, a.count) for a in alarms] == [
        ("closed", "condition", 5),
        ("open", None, 3),
    ]


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"outbox_recover_after_s": 0.5})


async def test_events_committed_but_never_published_are_published_later(app, settings, plant):
    # A second process that stores readings and "crashes" before any relay publishes them:
    # its outbox rows stay committed, and the running app's relay picks them up.
    db = Database(settings.resolved_database_url)
    try:
        ingestor = build_ingestor(db, settings)
        await ingestor.ingest(flatten(_series(1_700_001_000, [120.0] * 4)))
    finally:
        await db.dispose()

    alarms = await _wait_for_count(app, 4)

    assert [a.count for a in alarms] == [4]


async def test_a_resent_window_overlapping_new_readings_counts_only_the_new(app, client, plant):
    # A gateway re-sends its last window together with new readings: only the new ones count.
    first = await client.post("/readings", json=_series(1_700_002_000, [150.0] * 10))
    overlap = await client.post("/readings", json=_series(1_700_002_005, [150.0] * 10))
    assert first.json() == {"accepted": 10, "duplicates": 0}
    assert overlap.json() == {"accepted": 5, "duplicates": 5}

    alarms = await _wait_for_count(app, 15)

    assert [a.count for a in alarms] == [15]
