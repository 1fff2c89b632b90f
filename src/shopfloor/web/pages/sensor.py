"""A sensor's page (``/sensors/{id}``): what it is, its latest value, and its chart, live.

The page is drawn with the sensor's facts and alarms; its script then asks for the chart of the
chosen range (``/sensors/{id}/chart?range=…``, columns of raw readings or of rollup buckets with
the anomaly scores and alarm marks) and draws it with uPlot. The event stream
(``/live/sensors/{id}``) then pushes only what is new: readings as points the browser appends,
score minutes, the latest value and the alarm list as fragments.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from shopfloor.core.errors import ValidationFailed
from shopfloor.web.live import LiveEvent
from shopfloor.web.live.stream import live_events
from shopfloor.web.sensor_chart.feed import (
    ALARMS_KEY,
    Newest,
    Points,
    ScoreMinutes,
    SensorChartFeed,
    sensor_topic,
)
from shopfloor.web.sensor_chart.query import (
    AlarmMark,
    SensorView,
    chart_data,
    latest_reading,
    load_sensor,
    sensor_alarms,
)
from shopfloor.web.sensor_chart.ranges import RANGES, TimeRange, range_for
from shopfloor.web.templating import render, render_string

router = APIRouter()
NAV = None  # reached from the overview's machines, not from the header
US = 1_000_000
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def sensor_chart_feed(app: FastAPI) -> SensorChartFeed:
    return SensorChartFeed(app.state.store)


FEEDS = (sensor_chart_feed,)


def format_value(value: float) -> str:
    """A reading as people read it: up to six significant digits, no exponent below a million."""
    if value != value:  # NaN never reaches the store, but a page must not fail on one
        return "\N{EN DASH}"
    if abs(value) >= 1e6 or (value != 0 and abs(value) < 1e-4):
        return f"{value:.4g}"
    return f"{value:,.6g}" if abs(value) >= 1e3 else f"{value:.6g}"


def limit_state(sensor: SensorView, value: float) -> tuple[str, str]:
    """(state, words) of a value against the sensor's limits, as the overview's states."""
    if sensor.high is not None and value > sensor.high:
        return "alarm", f"above the high limit ({format_value(sensor.high)})"
    if sensor.low is not None and value < sensor.low:
        return "alarm", f"below the low limit ({format_value(sensor.low)})"
    if sensor.low is None and sensor.high is None:
        return "unmonitored", "no limits set"
    return "ok", "within limits"


def _latest_context(sensor: SensorView, latest: tuple[int, float] | None) -> dict[str, object]:
    if latest is None:
        return {"sensor": sensor, "latest": None}
    ts_us, value = latest
    moment = datetime.fromtimestamp(ts_us / US, UTC)
    state, words = limit_state(sensor, value)
    return {
        "sensor": sensor,
        "latest": {
            "value": format_value(value),
            "iso": moment.isoformat().replace("+00:00", "Z"),
            "shown": f"{moment:%Y-%m-%d %H:%M:%S} UTC",
            "state": state,
            "words": words,
        },
    }


def _alarms_context(alarms: list[AlarmMark] | tuple[AlarmMark, ...]) -> dict[str, object]:
    def shown(epoch_us: int) -> str:
        return f"{datetime.fromtimestamp(epoch_us / US, UTC):%Y-%m-%d %H:%M} UTC"

    return {"alarms": alarms, "shown": shown}


def _chosen_range(key: str | None) -> TimeRange:
    chosen = range_for(key)
    if chosen is None:
        keys = ", ".join(r.key for r in RANGES)
        raise ValidationFailed(
            f"range must be one of {keys}",
            errors=[{"loc": ["query", "range"], "msg": f"one of {keys}", "type": "value_error"}],
        )
    return chosen


async def _sensor(request: Request, sensor_id: int) -> SensorView:
    state = request.app.state
    async with state.db.read() as session:
        return await load_sensor(session, sensor_id, state.settings.default_detector)


@router.get("/sensors/{sensor_id}", name="sensor")
async def sensor_page(
    request: Request, sensor_id: int, range_key: str | None = Query(None, alias="range")
) -> Response:
    chosen = range_for(range_key) or range_for(None)
    assert chosen is not None
    state = request.app.state
    async with state.db.read() as session:
        sensor = await load_sensor(session, sensor_id, state.settings.default_detector)
        latest = await latest_reading(session, state.store, sensor_id)
        alarms = await sensor_alarms(session, sensor_id)
    context = {
        "sensor": sensor,
        "ranges": RANGES,
        "chosen": chosen,
        "open_alarms": sum(1 for alarm in alarms if alarm.active),
        "live_url": f"/live/sensors/{sensor_id}",
        "chart_url": f"/sensors/{sensor_id}/chart",
        "fmt": format_value,
        **_latest_context(sensor, latest),
        **_alarms_context(alarms),
    }
    return render(request, "sensor/page.html", context)


@router.get("/sensors/{sensor_id}/chart", name="sensor_chart")
async def sensor_chart(
    request: Request, sensor_id: int, range_key: str | None = Query(None, alias="range")
) -> Response:
    """The chart's data for one range, as columns (see ``sensor_chart.query``)."""
    chosen = _chosen_range(range_key)
    state = request.app.state
    async with state.db.read() as session:
        sensor = await load_sensor(session, sensor_id, state.settings.default_detector)
        data = await chart_data(session, state.store, sensor, chosen, int(time.time() * US))
    return Response(orjson.dumps(data, option=JSON_OPTIONS), media_type="application/json")


@router.get("/live/sensors/{sensor_id}", response_class=EventSourceResponse, name="sensor_live")
async def sensor_live(request: Request, sensor_id: int) -> AsyncIterator[ServerSentEvent]:
    sensor = await _sensor(request, sensor_id)

    def render_event(event: LiveEvent) -> Iterator[ServerSentEvent]:
        data = event.data
        if isinstance(data, Points):
            body = {"x": data.ts_us / US, "y": data.values}
            yield ServerSentEvent(event="points", raw_data=_json(body))
        elif isinstance(data, ScoreMinutes):
            yield ServerSentEvent(
                event="scores", raw_data=_json({"x": data.ts_us / US, "max": data.maxima})
            )
        elif isinstance(data, Newest):
            yield ServerSentEvent(event="newest", raw_data=_json({"x": data.ts_us / US}))
            context = _latest_context(sensor, (data.ts_us, data.value))
            html = render_string(request, "sensor/latest.html", context, page=False)
            yield ServerSentEvent(event="latest", raw_data=html)
        elif event.key == ALARMS_KEY:
            marks = [alarm.as_json() for alarm in data]
            yield ServerSentEvent(event="alarms", raw_data=_json(marks))
            html = render_string(request, "sensor/alarms.html", _alarms_context(data), page=False)
            yield ServerSentEvent(event="alarm-list", raw_data=html)
            count = {"open_alarms": sum(1 for alarm in data if alarm.active)}
            html = render_string(request, "sensor/alarm_count.html", count, page=False)
            yield ServerSentEvent(event="alarm-count", raw_data=html)

    async for message in live_events(request, [sensor_topic(sensor_id)], render_event):
        yield message


def _json(body: object) -> str:
    return orjson.dumps(body, option=JSON_OPTIONS).decode()
