"""The detect stage keeps each sensor's highest anomaly score per minute, for charts."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from sqlalchemy import select

from shopfloor.detection.models import AnomalyScoreMinute
from shopfloor.detection.registry import make_detector
from shopfloor.detection.score_store import (
    MINUTE_US,
    ScoreKeeper,
    minute_maxima,
    score_buckets,
    upsert_maxima,
)

OIL = "acme/press-line/press-1/oil-temp"
START_S = 1_699_999_200  # an hour's start
DEADLINE_S = 20


async def stored(app, sensor_id: int) -> dict[int, float]:
    async with app.state.db.read() as session:
        rows = await session.execute(
            select(AnomalyScoreMinute.bucket_us, AnomalyScoreMinute.max_score).where(
                AnomalyScoreMinute.sensor_id == sensor_id
            )
        )
        return {int(bucket): float(score) for bucket, score in rows.all()}


async def test_the_stage_keeps_the_highest_score_of_each_minute(app, client, plant):
    rng = np.random.default_rng(3)
    ts_s = START_S + 10 * np.arange(900)  # every 10 s: six readings a minute
    values = 50 + rng.normal(0, 1, len(ts_s))
    values[700] += 25
    body = {"series": [{"sensor": OIL, "ts": ts_s.tolist(), "values": values.tolist()}]}
    assert (await client.post("/readings", json=body)).status_code == 202
    scores = make_detector("seasonal").update(ts_s.astype(float), values)
    buckets, maxima = minute_maxima(ts_s * 1_000_000, scores)
    expected = dict(zip(buckets.tolist(), maxima.tolist(), strict=True))

    deadline = time.monotonic() + DEADLINE_S
    while len(found := await stored(app, plant[OIL])) < len(expected):
        assert time.monotonic() < deadline, f"{len(found)} of {len(expected)} minutes kept"
        await asyncio.sleep(0.2)

    assert found.keys() == expected.keys()
    np.testing.assert_allclose(list(found.values()), list(expected.values()), atol=1e-9)
    spike_minute = int(ts_s[700] * 1_000_000 // MINUTE_US * MINUTE_US)
    assert found[spike_minute] == max(found.values())


async def test_a_minute_only_ever_rises_so_a_replay_changes_nothing(app, plant):
    sensor_id, minute = plant[OIL], START_S * 1_000_000
    async with app.state.db.write() as session:
        await upsert_maxima(
            session, [{"sensor_id": sensor_id, "bucket_us": minute, "max_score": 0.4}]
        )
    for score in (0.4, 0.1, 0.9):  # the same again, a lower one, a higher one
        async with app.state.db.write() as session:
            row = {"sensor_id": sensor_id, "bucket_us": minute, "max_score": score}
            await upsert_maxima(session, [row])

    assert await stored(app, sensor_id) == {minute: 0.9}


async def test_minutes_are_read_back_as_the_highest_per_step(app, plant):
    sensor_id = plant[OIL]
    minutes = START_S * 1_000_000 + MINUTE_US * np.arange(120)
    rows = [
        {"sensor_id": sensor_id, "bucket_us": int(m), "max_score": (i % 60) / 100}
        for i, m in enumerate(minutes)
    ]
    async with app.state.db.write() as session:
        await upsert_maxima(session, rows)

    async with app.state.db.read() as session:
        hourly = await score_buckets(
            session, sensor_id, int(minutes[0]), int(minutes[-1]) + 1, 60 * MINUTE_US
        )
        raw = await score_buckets(session, sensor_id, int(minutes[0]), int(minutes[10]), 1)

    assert hourly[1].tolist() == [0.59] * len(hourly[0])
    assert (hourly[0] % (60 * MINUTE_US) == 0).all()
    assert raw[0].tolist() == minutes[:10].tolist()  # never finer than a minute


async def test_the_minutes_of_a_deleted_sensor_are_dropped_and_the_others_kept(app, plant):
    keeper = ScoreKeeper(app.state.db)
    ts_us = np.array([START_S * 1_000_000])
    keeper.add(plant[OIL], ts_us, np.array([0.3]))
    keeper.add(999_999, ts_us, np.array([0.8]))  # no such sensor (deleted meanwhile)
    keeper.add(plant[OIL], ts_us, np.array([np.nan]))  # not a score: ignored

    assert await keeper.flush() == 2
    assert await stored(app, plant[OIL]) == {START_S * 1_000_000: 0.3}
    assert keeper.pending == 0
