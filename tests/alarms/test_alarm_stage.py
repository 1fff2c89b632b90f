"""The alarm stage: rules evaluated on readings, deadbands, for_seconds, shelves, concurrency."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from shopfloor.alarms.models import Alarm, AlarmRule, Shelf
from shopfloor.alarms.stages import AlarmStage
from shopfloor.bus.message import Envelope
from shopfloor.core.clock import utcnow
from shopfloor.pipeline.stage import StageContext
from shopfloor.pipeline.state import StateStore

OIL = "acme/press-line/press-1/oil-temp"  # limits 0..100 (see the plant fixture)
MACHINE = "acme/press-line/press-1"
DEADLINE_S = 20


async def post(client, start: int, values: list[float]) -> None:
    body = {
        "series": [{"sensor": OIL, "ts": list(range(start, start + len(values))), "values": values}]
    }
    response = await client.post("/readings", json=body)
    assert response.status_code == 202, response.text


async def alarms_of(app, rule: str) -> list[Alarm]:
    async with app.state.db.read() as session:
        query = select(Alarm).where(Alarm.rule == rule).order_by(Alarm.id)
        return list((await session.scalars(query)).all())


async def wait_for(app, rule: str, count: int) -> list[Alarm]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        alarms = await alarms_of(app, rule)
        if sum(a.count for a in alarms) >= count or time.monotonic() > deadline:
            return alarms
        await asyncio.sleep(0.05)


async def add_rule(app, **fields) -> None:
    now = utcnow()
    async with app.state.db.write() as session:
        session.add(
            AlarmRule(
                **{"scope": MACHINE, "severity": "critical", "for_seconds": 0.0, "enabled": True}
                | fields,
                created_at=now,
                updated_at=now,
            )
        )


async def test_a_value_hovering_at_the_limit_does_not_flap(app, client, plant):
    # Across the limit (100) and back, but never below it by the deadband (2 % of 0..100).
    hovering = [101.0, 99.5, 100.5, 98.5, 101.0, 99.0] * 20
    await post(client, 1_700_000_000, [50.0] * 10 + hovering)

    alarms = await wait_for(app, "limits", 60)

    assert [(a.state, a.count) for a in alarms] == [("open", 60)]
    assert alarms[0].message == "101 is above 100"


async def test_for_seconds_needs_the_condition_to_hold(app, client, plant):
    await add_rule(app, name="hot-for-5s", kind="threshold", params={"high": 80}, for_seconds=5)
    # 3 s above 80 (not long enough), back to normal, then 8 s above: opens at the 6th second.
    await post(client, 1_700_000_000, [50.0] * 5 + [90.0] * 3 + [50.0] * 5 + [90.0] * 8)

    alarms = await wait_for(app, "hot-for-5s", 3)

    assert [(a.state, a.count, a.severity) for a in alarms] == [("open", 3, "critical")]
    assert alarms[0].opened_at.timestamp() == 1_700_000_000 + 13 + 5


async def test_rate_of_change_rule(app, client, plant):
    await add_rule(app, name="fast-rise", kind="rate_of_change", params={"max_per_second": 5})
    await post(client, 1_700_000_000, [50.0, 51.0, 52.0, 70.0, 71.0])

    alarms = await wait_for(app, "fast-rise", 1)

    assert [(a.kind, a.value, a.count) for a in alarms] == [("rate_of_change", 70.0, 1)]


async def test_the_detector_score_raises_the_anomaly_alarm(app, client, plant):
    steady = [50.0 + 0.1 * (i % 7) for i in range(3_000)]
    steady[2_500] = 75.0  # inside the limits, but nothing like the sensor's usual readings
    await post(client, 1_700_000_000, steady)

    alarms = await wait_for(app, "anomaly", 1)

    # One alarm, for the odd reading only; the readings after it cleared and resolved it.
    assert [(a.state, a.resolution, a.value) for a in alarms] == [("resolved", "condition", 75.0)]
    assert alarms[0].score >= 0.5
    assert await alarms_of(app, "limits") == []


async def test_a_shelved_machine_raises_nothing_and_the_shelf_counts_it(app, client, plant):
    now = utcnow()
    async with app.state.db.write() as session:
        session.add(
            Shelf(
                scope=MACHINE,
                reason="pump overhaul",
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=1),
                created_by="test",
                created_at=now,
                suppressed=0,
            )
        )
    await post(client, 1_700_000_000, [150.0] * 4)

    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        async with app.state.db.read() as session:
            suppressed = await session.scalar(select(Shelf.suppressed))
        if suppressed >= 4:
            break
        await asyncio.sleep(0.05)

    assert suppressed == 4
    assert await alarms_of(app, "limits") == []


def breach(message_id: str, sensor_id: int, second: int) -> Envelope:
    ts = (1_700_000_000 + second) * 1_000_000
    payload = {"sensor_id": sensor_id, "sensor": OIL, "ts": [ts], "values": [150.0]}
    return Envelope(topic="scores", key=OIL, id=message_id, payload=payload | {"scores": [0.0]})


async def test_eight_concurrent_workers_open_exactly_one_alarm(app, plant):
    db = app.state.db
    stages = []
    for n in range(8):
        stage = AlarmStage()
        context = StageContext(
            stage="alarm",
            consumer=f"worker-{n}",
            bus=app.state.pipeline.bus,
            database=db,
            state=StateStore(db),
        )
        await stage.start(context)
        stages.append(stage)

    # Each worker handles its own message about the same breach, all at once.
    await asyncio.gather(
        *(stage.handle([breach(f"m{n}", plant[OIL], n)]) for n, stage in enumerate(stages))
    )

    alarms = await alarms_of(app, "limits")
    assert [(a.state, a.count) for a in alarms] == [("open", 8)]


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"alarm_tick_s": 3600.0})
