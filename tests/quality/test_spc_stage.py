"""The spc stage, run in-process on the memory bus: measurements recorded through the API raise
SPC alarms through the alarm machinery (one per characteristic and rule, filed under the lot's
line, published for notifications), a replay changes nothing, concurrent workers converge on one
alarm, and the alarm clock leaves SPC alarms to people."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from shopfloor.alarms.events import ALARM_EVENTS
from shopfloor.alarms.models import Alarm, ProcessedMessage
from shopfloor.bus.message import Envelope
from shopfloor.core.clock import utcnow
from shopfloor.notify.templates import alarm_context, render
from shopfloor.pipeline.stage import StageContext
from shopfloor.pipeline.state import StateStore
from shopfloor.quality.events import QUALITY_MEASURED
from shopfloor.quality.stages import SpcStage
from tests.quality.test_spc_api import (
    AFTER,
    BEFORE,
    LINE,
    inspect,
    make_characteristic,
    ok,
)

DEADLINE_S = 20.0
T = TypeVar("T")
N2_MESSAGE = (
    "N2 on 'bore diameter' (part {part}): 10 points in a row above the centre line "
    "(points 11\u201320)"
)


@pytest.fixture
def settings(settings):
    # The alarm clock runs only when a test ticks it.
    return settings.model_copy(update={"alarm_tick_s": 3600.0})


async def until(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    """Poll ``probe`` until ``done`` holds of its answer, or fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        answer = await probe()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}; last saw {answer!r}")
        await asyncio.sleep(0.05)


async def handled(app) -> int:
    """Messages the spc stage has handled so far."""
    async with app.state.db.read() as session:
        query = select(func.count()).where(ProcessedMessage.stage == "spc")
        return int(await session.scalar(query) or 0)


async def spc_alarms(app, characteristic_id: int) -> list[Alarm]:
    async with app.state.db.read() as session:
        query = select(Alarm).where(Alarm.characteristic_id == characteristic_id).order_by(Alarm.id)
        return list(await session.scalars(query))


async def drain(bus, topic: str, group: str) -> list[Envelope]:
    """Everything ``topic`` still holds, read by a new consumer group."""
    envelopes: list[Envelope] = []
    while deliveries := await bus.consume(topic, group, "t", count=500, block_s=0.2):
        envelopes += [delivery.envelope for delivery in deliveries]
        await bus.ack(topic, group, [delivery.receipt for delivery in deliveries])
    return envelopes


async def worker(app, n: int) -> SpcStage:
    stage = SpcStage()
    db = app.state.db
    await stage.start(
        StageContext(
            stage="spc",
            consumer=f"worker-{n}",
            bus=app.state.pipeline.bus,
            database=db,
            state=StateStore(db),
        )
    )
    return stage


async def shifted(app, client, **made: Any) -> dict[str, int]:
    """A characteristic measured in control (10 points), then after a shift (10 more); waits
    for the stage to raise its N2 alarm."""
    ids = await make_characteristic(client, **made)
    await inspect(client, ids, BEFORE)
    await until(lambda: handled(app), lambda n: n >= 10, "the first ten measurements")
    assert await spc_alarms(app, ids["characteristic"]) == []
    await inspect(client, ids, AFTER, start=10)
    await until(
        lambda: spc_alarms(app, ids["characteristic"]),
        lambda alarms: any(a.rule == "spc:N2" and a.count >= 2 for a in alarms),
        "the N2 alarm",
    )
    await until(lambda: handled(app), lambda n: n >= 20, "all twenty measurements")
    return ids


async def test_a_shift_raises_one_n2_alarm_filed_under_the_lots_line(app, client):
    made = await shifted(app, client)
    listed = await ok(client, "GET", "/alarms?under=acme/machining")
    n2 = [item for item in listed["items"] if item["rule"] == "spc:N2"]
    assert len(n2) == 1
    alarm = n2[0]
    assert (alarm["kind"], alarm["sensor"], alarm["characteristic"], alarm["path"]) == (
        "spc",
        None,
        made["characteristic"],
        LINE,
    )
    assert (alarm["state"], alarm["severity"], alarm["count"]) == ("open", "warning", 2)
    assert alarm["value"] == AFTER[-1]
    assert alarm["message"] == N2_MESSAGE.format(part="P-100")
    assert all(item["kind"] == "spc" for item in listed["items"])
    assert len({item["rule"] for item in listed["items"]}) == len(listed["items"])
    assert (await ok(client, "GET", "/alarms?under=acme/stamping"))["items"] == []
    assert await ok(client, "GET", f"/alarms/{alarm['id']}") == alarm

    # Published for notifications, once.
    events = await drain(app.state.pipeline.bus, ALARM_EVENTS, "test")
    opened = [e.payload for e in events if e.payload["alarm"]["id"] == alarm["id"]]
    assert [(p["event"], p["alarm"]["path"]) for p in opened] == [("alarm.opened", LINE)]
    # Notification texts name it by its path, or by its characteristic when it has none.
    for channel in ("email", "slack"):
        text = render(channel, {}, alarm_context(opened[0], "http://x", "now")).text
        assert LINE in text and alarm["message"] in text
    pathless = {**opened[0], "alarm": {**opened[0]["alarm"], "path": None}}
    rendered = render("email", {}, alarm_context(pathless, "http://x", "now"))
    assert f"characteristic {made['characteristic']}" in (rendered.subject or "")

    # A replay of every measurement changes nothing.
    replayed = await drain(app.state.pipeline.bus, QUALITY_MEASURED, "replay")
    assert len(replayed) == 20
    await (await worker(app, 1)).handle(replayed)
    assert [(a.rule, a.count) for a in await spc_alarms(app, made["characteristic"])] == [
        (a["rule"], a["count"]) for a in reversed(listed["items"])
    ]
    assert await drain(app.state.pipeline.bus, ALARM_EVENTS, "test") == []


async def test_people_acknowledge_and_resolve_spc_alarms_the_clock_only_closes_them(
    app,
    client,
):
    made = await shifted(app, client)
    alarm_id = next(
        a.id for a in await spc_alarms(app, made["characteristic"]) if a.rule == "spc:N2"
    )
    acknowledged = await ok(
        client, "POST", f"/alarms/{alarm_id}/acknowledge", {"note": "checking the spindle"}
    )
    assert (acknowledged["state"], acknowledged["path"]) == ("acknowledged", LINE)
    assert [note["text"] for note in acknowledged["notes"]] == ["checking the spindle"]
    await ok(client, "POST", f"/alarms/{alarm_id}/assign", {"user": "admin"})
    # A day on, nothing has cleared it by itself.
    clock = app.state.pipeline.clock
    await clock.tick(utcnow() + timedelta(days=1))
    assert (await ok(client, "GET", f"/alarms/{alarm_id}"))["state"] == "acknowledged"
    resolved = await ok(client, "POST", f"/alarms/{alarm_id}/resolve", {"note": "tool changed"})
    assert (resolved["state"], resolved["resolution"]) == ("resolved", "person")
    await clock.tick(utcnow() + timedelta(seconds=clock.close_after_s + 60))
    assert (await ok(client, "GET", f"/alarms/{alarm_id}"))["state"] == "closed"


async def test_stored_limits_judge_new_points_and_a_lot_without_a_line_files_by_part(
    app,
    client,
):
    made = await make_characteristic(client, number="Q-7/B", line=None)
    url = f"/spc/{made['characteristic']}/limits"
    await inspect(client, made, BEFORE)
    await ok(client, "POST", url, {"chart": "imr", "baseline": 10}, 201)
    await inspect(client, made, AFTER, start=10)
    await until(
        lambda: spc_alarms(app, made["characteristic"]),
        lambda alarms: any(a.rule == "spc:N2" and a.count >= 2 for a in alarms),
        "the N2 alarm",
    )
    listed = await ok(client, "GET", "/alarms?under=parts/q-7-b")
    n2 = [item for item in listed["items"] if item["rule"] == "spc:N2"]
    assert [(a["path"], a["count"]) for a in n2] == [("parts/q-7-b", 2)]
    assert n2[0]["message"] == N2_MESSAGE.format(part="Q-7/B")
    # Too few points for a chart: nothing is raised.
    lone = await make_characteristic(client, number="P-900")
    await inspect(client, lone, [10.0])
    await until(lambda: handled(app), lambda n: n >= 21, "the lone measurement")
    assert await spc_alarms(app, lone["characteristic"]) == []


async def test_an_spc_alarm_rule_chooses_the_tests_that_raise_alarms(app, client):
    rule = {
        "name": "machining-we",
        "scope": "acme/machining",
        "kind": "spc",
        "params": {"rules": ["WE4"]},
        "severity": "warning",
    }
    await ok(client, "POST", "/alarm-rules", rule, 201)
    made = await make_characteristic(client)
    await inspect(client, made, BEFORE)
    await ok(client, "POST", f"/spc/{made['characteristic']}/limits", {"baseline": 10}, 201)
    await inspect(client, made, AFTER, start=10)
    await until(lambda: handled(app), lambda n: n >= 20, "all twenty measurements")
    alarms = await spc_alarms(app, made["characteristic"])
    # Eight in a row above the centre line at points 18, 19 and 20.
    assert [(a.rule, a.count, a.severity) for a in alarms] == [("spc:WE4", 3, "warning")]


async def test_concurrent_workers_count_on_one_alarm(app, client):
    made = await shifted(app, client)
    envelopes = await drain(app.state.pipeline.bus, QUALITY_MEASURED, "replay")
    newest = [e for e in envelopes if e.payload["value"] in AFTER]
    workers = [await worker(app, n) for n in range(4)]
    # Each worker gets the shift's messages under ids of its own, as if published again.
    await asyncio.gather(
        *(
            stage.handle(
                [
                    Envelope(topic=e.topic, key=e.key, id=f"{e.id}-w{n}", payload=e.payload)
                    for e in newest
                ]
            )
            for n, stage in enumerate(workers)
        )
    )
    alarms = [a for a in await spc_alarms(app, made["characteristic"]) if a.rule == "spc:N2"]
    assert [(a.state, a.count) for a in alarms] == [("open", 2 + 4 * 2)]
