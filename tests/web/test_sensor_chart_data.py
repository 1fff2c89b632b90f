"""The sensor chart's data and live feed, in process on both databases."""

from __future__ import annotations

import time

import numpy as np

from shopfloor.web.sensor_chart.feed import Newest, Points, SensorChartFeed, sensor_topic
from shopfloor.web.sensor_chart.query import chart_data, load_sensor
from shopfloor.web.sensor_chart.ranges import BY_KEY, MAX_RAW_POINTS

OIL = "acme/press-line/press-1/oil-temp"
US = 1_000_000


async def post(client, ts: np.ndarray, values: np.ndarray) -> None:
    body = {"series": [{"sensor": OIL, "ts": ts.tolist(), "values": values.tolist()}]}
    response = await client.post("/readings", json=body)
    assert response.status_code == 202, response.text


async def chart(app, sensor_id: int, key: str, now_s: float) -> dict:
    async with app.state.db.read() as session:
        sensor = await load_sensor(session, sensor_id, "seasonal")
        return await chart_data(session, app.state.store, sensor, BY_KEY[key], int(now_s * US))


async def test_short_ranges_are_raw_readings_and_long_ones_rollup_buckets(app, client, plant):
    now = float(int(time.time()))
    ts = now - 600 + np.arange(600)  # the last ten minutes at 1 Hz
    values = 50 + np.sin(np.arange(600) / 30)
    await post(client, ts, values)

    raw = await chart(app, plant[OIL], "15m", now)
    month = await chart(app, plant[OIL], "30d", now)

    assert raw["mode"] == "raw" and raw["every"] is None
    np.testing.assert_array_equal(raw["series"]["x"], ts)
    np.testing.assert_allclose(raw["series"]["value"], values)
    assert raw["limits"] == {"low": 0.0, "high": 100.0}
    assert raw["latest"] == {"x": ts[-1], "value": values[-1]}
    assert month["mode"] == "buckets" and month["every"] == "1h"
    assert int(month["series"]["count"].sum()) == 600
    assert month["series"]["min"].min() == values.min()
    assert month["series"]["max"].max() == values.max()
    assert (month["series"]["x"] * US % (3_600 * US) == 0).all()


async def test_a_fast_sensor_gets_buckets_even_in_a_short_range(app, client, plant):
    now = float(int(time.time()))
    count = MAX_RAW_POINTS + 1_000
    ts = now - count / 10 + np.arange(count) / 10  # 10 Hz
    await post(client, ts, np.full(count, 42.0))

    data = await chart(app, plant[OIL], "15m", now)

    assert data["mode"] == "buckets" and data["every"] == "1s"
    assert int(data["series"]["count"].sum()) == count
    assert len(data["series"]["x"]) <= 15 * 60


async def test_the_live_feed_reports_only_what_is_new(app, client, plant):
    feed, topic = SensorChartFeed(app.state.store), sensor_topic(plant[OIL])
    watched = frozenset({topic})
    now = float(int(time.time()))
    await post(client, now - 10 + np.arange(3), np.array([1.0, 2.0, 3.0]))

    first = await feed.poll(app.state.db, watched)
    await post(client, now - 5 + np.arange(2), np.array([4.0, 5.0]))
    second = await feed.poll(app.state.db, watched)
    third = await feed.poll(app.state.db, watched)

    assert [e.data for e in first if e.key == "newest"] == [Newest(int((now - 8) * US), 3.0)]
    assert not [e for e in first if isinstance(e.data, Points)]  # the page loaded those
    points = [e.data for e in second if isinstance(e.data, Points)]
    assert len(points) == 1 and points[0].values.tolist() == [4.0, 5.0]
    assert [e.data for e in second if e.key == "newest"] == [Newest(int((now - 4) * US), 5.0)]
    assert not [e for e in third if isinstance(e.data, Points | Newest)]
    assert {e.key for e in feed.snapshot(watched)} == {"newest", "alarms"}
