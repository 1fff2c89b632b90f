"""The ``detect`` stage scores readings with each sensor's detector and resumes after a restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from shopfloor.app import create_app
from shopfloor.config import Settings
from shopfloor.detection.registry import make_detector
from shopfloor.detection.stages import SensorDetector
from tests.fixtures.auth import admin_client
from tests.fixtures.lifespan import app_running

OIL = "acme/press-line/press-1/oil-temp"  # limits 0..100 (see the plant fixture)
START_S = 1_700_000_000
DEADLINE_S = 20
GROUP = "test-scores"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    application = create_app(settings)
    async with app_running(application), admin_client(application) as http:
        yield application, http


def signal(count: int, seed: int = 7) -> np.ndarray:
    """A daily cycle with noise, one reading a minute, and a spike near the end."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(count)
    values = 50 + 10 * np.sin(2 * np.pi * minutes / 1440) + rng.normal(0, 1, count)
    values[count - 20] += 30
    return values


async def post(http: httpx.AsyncClient, first: int, values: np.ndarray) -> None:
    ts = [START_S + 60 * (first + i) for i in range(len(values))]
    body = {"series": [{"sensor": OIL, "ts": ts, "values": values.tolist()}]}
    response = await http.post("/readings", json=body)
    assert response.status_code == 202, response.text


async def scores_of(app: FastAPI, expected: int) -> dict[int, float]:
    """Scores by reading time (epoch s) from the ``scores`` topic, until ``expected`` arrived."""
    bus = app.state.pipeline.bus
    seen: dict[int, float] = {}
    payloads = []
    deadline = time.monotonic() + DEADLINE_S
    while len(seen) < expected and time.monotonic() < deadline:
        deliveries = await bus.consume("scores", GROUP, "test", count=500, block_s=0.2)
        for delivery in deliveries:
            payload = delivery.envelope.payload
            payloads.append(payload)
            for ts, score in zip(payload["ts"], payload["scores"], strict=True):
                seen[ts // 1_000_000] = score
        await bus.ack("scores", GROUP, [d.receipt for d in deliveries])
    assert len(seen) >= expected, f"{len(seen)} of {expected} scores arrived"
    return seen


def expected_scores(name: str, values: np.ndarray) -> dict[int, float]:
    ts = START_S + 60 * np.arange(len(values), dtype=np.float64)
    scores = make_detector(name).update(ts, values).round(6)
    return {int(t): float(s) for t, s in zip(ts, scores, strict=True)}


async def test_scores_come_from_the_sensors_own_detector(app, client, plant):
    response = await client.patch(f"/sensors/{plant[OIL]}", json={"detector": "ewma"})
    assert response.status_code == 200 and response.json()["detector"] == "ewma"
    values = signal(1_500)
    await post(client, 0, values)

    scores = await scores_of(app, len(values))

    assert scores == expected_scores("ewma", values)
    assert max(scores.values()) >= 0.5  # the spike


async def test_a_sensor_without_a_detector_gets_the_default(app, client, plant):
    values = signal(800)
    await post(client, 0, values)

    assert await scores_of(app, len(values)) == expected_scores("seasonal", values)


async def test_an_unknown_detector_is_refused(client, plant):
    response = await client.patch(f"/sensors/{plant[OIL]}", json={"detector": "crystal-ball"})
    assert response.status_code == 422
    assert "unknown detector" in response.text


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"detector_checkpoint_s": 3600.0})


async def test_a_restart_resumes_the_detector_instead_of_relearning(settings, plant):
    values = signal(2_000)
    async with running(settings) as (app, http):
        await post(http, 0, values[:1_200])
        before = await scores_of(app, 1_200)
    # Stopped gracefully: the detectors were checkpointed although the interval never passed.
    async with running(settings) as (app, http):
        await post(http, 1_200, values[1_200:])
        after = await scores_of(app, 800)

    expected = list(expected_scores("seasonal", values).items())
    assert before == dict(expected[:1_200])
    assert after == dict(expected[1_200:])


def test_a_replayed_span_is_scored_but_not_learned_twice():
    values = signal(600)
    ts_us = (START_S + 60 * np.arange(600)) * 1_000_000
    replayed = SensorDetector(make_detector("seasonal"), watermark_us=-1)
    straight = SensorDetector(make_detector("seasonal"), watermark_us=-1)

    replayed.score(ts_us[:400], values[:400])
    replayed.score(ts_us[300:400], values[300:400])  # redelivered after a crash
    straight.score(ts_us[:400], values[:400])

    assert replayed.watermark_us == straight.watermark_us == ts_us[399]
    np.testing.assert_array_equal(
        replayed.score(ts_us[400:], values[400:]), straight.score(ts_us[400:], values[400:])
    )
