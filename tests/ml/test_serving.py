"""Model serving: in process, over the Open Inference Protocol, and the fallback between them.

The remote side is a real MLServer (its own virtual environment, made on first use: see
tests/fixtures/mlserver.py) serving a LightGBM model trained here on synthetic data; timeouts
are provoked by a TCP server in the test that accepts connections and never answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import lightgbm
import numpy as np
import pytest
from prometheus_client import REGISTRY

from shopfloor.ml.serving import (
    BreakerState,
    CircuitBreaker,
    FallbackPredictor,
    InferenceRequestError,
    InferenceUnavailableError,
    InProcessPredictor,
    Predictor,
    RemotePredictor,
)
from tests.fixtures.mlserver import INSTALL_TIMEOUT_S, MLServer, mlserver

MODEL = "quality-rul"
VERSION = "v1"
FEATURES = 8
# Covers a first install of MLServer's environment in the fixture, which counts as setup.
MLSERVER_TIMEOUT = pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def fallbacks(model: str, reason: str) -> float:
    return sample("shopfloor_model_fallbacks_total", {"model": model, "reason": reason})


def predictions(model: str, backend: str) -> float:
    return sample("shopfloor_model_predictions_total", {"model": model, "backend": backend})


def breaker_open(model: str) -> float:
    return sample("shopfloor_model_breaker_open", {"model": model})


def percentiles(seconds: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(seconds) * 1000, [50, 95])
    return float(p50), float(p95)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RequestCounter:
    """An httpx event hook: how many requests went out on the network."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, request: httpx.Request) -> None:
        self.count += 1


@dataclass
class TrainedModel:
    booster: lightgbm.Booster
    path: Path
    rows: np.ndarray


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    # float32 features from the start: the wire carries FP32, so both sides see equal inputs.
    rng = np.random.default_rng(7)
    features = rng.normal(size=(3000, FEATURES)).astype(np.float32)
    target = 3 * features[:, 0] + np.sin(2 * features[:, 1]) - features[:, 2] * features[:, 3]
    target += rng.normal(scale=0.1, size=len(target))
    booster = lightgbm.train(
        {"objective": "regression", "num_leaves": 31, "verbose": -1, "seed": 7},
        lightgbm.Dataset(features, target),
        num_boost_round=100,
    )
    path = tmp_path_factory.mktemp("model") / "model.txt"
    booster.save_model(path)
    rows = rng.normal(size=(500, FEATURES)).astype(np.float32)
    return TrainedModel(booster, path, rows)


@pytest.fixture(scope="module")
def served(trained: TrainedModel) -> Iterator[MLServer]:
    with mlserver({MODEL: trained.path}, version=VERSION) as server:
        yield server


@pytest.fixture
async def counted_client() -> AsyncIterator[tuple[httpx.AsyncClient, RequestCounter]]:
    counter = RequestCounter()
    async with httpx.AsyncClient(event_hooks={"request": [counter]}) as client:
        yield client, counter


# --- against a real MLServer -------------------------------------------------------------------


@pytest.mark.slow
@MLSERVER_TIMEOUT
async def test_remote_predictions_equal_in_process(served: MLServer, trained: TrainedModel) -> None:
    local = InProcessPredictor(trained.booster, model_name=MODEL)
    async with (
        RemotePredictor(served.base_url, MODEL) as remote,
        RemotePredictor(served.base_url, MODEL, VERSION) as versioned,
    ):
        assert isinstance(remote, Predictor)
        assert await remote.ready()
        assert await versioned.ready()

        expected = await local.predict(trained.rows)
        batch = await remote.predict(trained.rows)
        assert batch.shape == (len(trained.rows),)
        np.testing.assert_allclose(batch, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            await versioned.predict(trained.rows[:50]), expected[:50], rtol=1e-6, atol=1e-6
        )
        one = await remote.predict(trained.rows[:1])
        assert one.shape == (1,)
        np.testing.assert_allclose(one, expected[:1], rtol=1e-6, atol=1e-6)
        # float64 rows go as FP32 and still match the booster on the same (float32) values.
        np.testing.assert_allclose(
            await remote.predict(trained.rows[:10].astype(np.float64)),
            expected[:10],
            rtol=1e-6,
            atol=1e-6,
        )

        timings: dict[str, list[float]] = {"in_process": [], "mlserver": []}
        for backend, predictor in (("in_process", local), ("mlserver", remote)):
            for row in trained.rows[:200]:
                started = time.perf_counter()
                await predictor.predict(row[np.newaxis, :])
                timings[backend].append(time.perf_counter() - started)
        for backend, seconds in timings.items():
            p50, p95 = percentiles(seconds)
            print(f"\n{backend}: single-row p50 {p50:.3f} ms, p95 {p95:.3f} ms ({len(seconds)})")
        assert sample(
            "shopfloor_model_inference_seconds_count", {"backend": "remote", "model": MODEL}
        ) >= len(timings["mlserver"])


@pytest.mark.slow
@MLSERVER_TIMEOUT
async def test_unknown_model_is_a_4xx_reported_at_once(
    served: MLServer,
    trained: TrainedModel,
    counted_client: tuple[httpx.AsyncClient, RequestCounter],
) -> None:
    client, counter = counted_client
    remote = RemotePredictor(served.base_url, "no-such-model", retries=3, client=client)
    assert not await remote.ready()
    counter.count = 0

    with pytest.raises(InferenceRequestError) as caught:
        await remote.predict(trained.rows[:3])
    assert counter.count == 1  # not retried
    assert caught.value.status_code == 404
    assert "no-such-model" in caught.value.detail
    assert "HTTP 404" in str(caught.value) and "/v2/models/no-such-model/infer" in str(caught.value)

    # Behind a fallback the same refusal is a failed remote call, answered in process.
    model = "unknown-model-fallback"
    fallback = FallbackPredictor(
        remote, InProcessPredictor(trained.booster, model_name=model), model=model
    )
    answer = await fallback.predict(trained.rows[:3])
    np.testing.assert_allclose(answer, trained.booster.predict(trained.rows[:3]))
    assert fallbacks(model, "error") == 1
    assert counter.count == 2


@pytest.mark.slow
@MLSERVER_TIMEOUT
async def test_stopped_server_falls_back_opens_breaker_and_recovers(
    trained: TrainedModel, counted_client: tuple[httpx.AsyncClient, RequestCounter]
) -> None:
    client, counter = counted_client
    model = "breaker-model"
    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=3, reset_after_s=30, clock=clock)
    rows = trained.rows[:20]
    expected = trained.booster.predict(rows)

    with mlserver({model: trained.path}) as server:
        remote = RemotePredictor(
            server.base_url, model, timeout_s=2.0, retries=1, backoff_s=0.01, client=client
        )
        fallback = FallbackPredictor(
            remote, InProcessPredictor(trained.booster, model_name=model), breaker
        )
        np.testing.assert_allclose(await fallback.predict(rows), expected, rtol=1e-6)
        assert predictions(model, "remote") == 1
        assert breaker_open(model) == 0

        server.stop()
        for failure in range(1, 4):
            np.testing.assert_allclose(await fallback.predict(rows), expected)
            assert fallbacks(model, "error") == failure
        assert breaker.state is BreakerState.OPEN
        assert breaker_open(model) == 1
        assert predictions(model, "in_process") == 3
        assert fallbacks(model, "open") == 0

        # Open: answered in process without a single request on the network.
        sent = counter.count
        for _ in range(5):
            np.testing.assert_allclose(await fallback.predict(rows), expected)
        assert counter.count == sent
        assert fallbacks(model, "open") == 5

        # Reset time passed while the server is still down: the one trial fails, open again.
        clock.now += 30
        await fallback.predict(rows)
        assert counter.count == sent + 2  # the trial and its one retry
        assert fallbacks(model, "error") == 4
        assert breaker.state is BreakerState.OPEN
        assert breaker_open(model) == 1

        server.start()
        await fallback.predict(rows)  # up again, but the breaker waits out its reset time
        assert counter.count == sent + 2
        assert fallbacks(model, "open") == 6

        clock.now += 30
        np.testing.assert_allclose(await fallback.predict(rows), expected, rtol=1e-6)
        assert breaker.state is BreakerState.CLOSED
        assert breaker_open(model) == 0
        assert predictions(model, "remote") == 2
        np.testing.assert_allclose(await fallback.predict(rows), expected, rtol=1e-6)
        assert predictions(model, "remote") == 3
        assert fallbacks(model, "error") == 4 and fallbacks(model, "open") == 6


# --- timeouts: a server that accepts and stays silent --------------------------------------------


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[str, list[asyncio.Task[None]]]]:
    """http://127.0.0.1:PORT that accepts connections and never sends a byte; the list holds
    one handler task per accepted connection."""
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await asyncio.Event().wait()  # never set: the request is read by no one
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", handlers
    finally:
        server.close()
        # Python 3.11 leaves the handlers of open connections running after close().
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def test_silent_server_times_out_retries_and_falls_back(
    silent_server: tuple[str, list[asyncio.Task[None]]],
    trained: TrainedModel,
    counted_client: tuple[httpx.AsyncClient, RequestCounter],
) -> None:
    url, accepted = silent_server
    client, counter = counted_client
    remote = RemotePredictor(url, MODEL, timeout_s=0.2, retries=2, backoff_s=0.01, client=client)

    started = time.monotonic()
    with pytest.raises(InferenceUnavailableError) as caught:
        await remote.predict(trained.rows[:5])
    elapsed = time.monotonic() - started
    assert counter.count == 3 and len(accepted) == 3
    assert caught.value.errors == ["no answer within 0.2 s"] * 3
    assert 0.6 <= elapsed < 2.0, elapsed

    model = "silent-model"
    fallback = FallbackPredictor(
        remote,
        InProcessPredictor(trained.booster, model_name=model),
        CircuitBreaker(failures_to_open=2),
        model=model,
    )
    started = time.monotonic()
    answer = await fallback.predict(trained.rows[:5])
    assert time.monotonic() - started < 2.0
    np.testing.assert_allclose(answer, trained.booster.predict(trained.rows[:5]))
    assert fallbacks(model, "error") == 1
    assert counter.count == 6

    await fallback.predict(trained.rows[:5])  # second failure opens the breaker
    started = time.monotonic()
    await fallback.predict(trained.rows[:5])
    assert time.monotonic() - started < 0.1  # no network, no timeout to wait out
    assert counter.count == 9
    assert fallbacks(model, "open") == 1 and breaker_open(model) == 1


async def test_in_process_predictor_batches_and_rows(trained: TrainedModel) -> None:
    local = InProcessPredictor(trained.booster, model_name="local-only", inline_max_rows=16)
    expected = trained.booster.predict(trained.rows)
    # Above inline_max_rows it runs on a worker thread, below inline: same answers.
    np.testing.assert_array_equal(await local.predict(trained.rows), expected)
    np.testing.assert_array_equal(await local.predict(trained.rows[:1]), expected[:1])
    assert predictions("local-only", "in_process") == 2
    with pytest.raises(ValueError, match="takes 8 features, got 3"):
        await local.predict(np.zeros((1, 3)))


# --- the circuit breaker -----------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_only() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=3, reset_after_s=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    breaker.record_success()  # a success in between starts the count again
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_breaker_half_open_lets_one_trial_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one trial at a time
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()  # the reset time starts again from the failed trial
    clock.now += 10
    assert breaker.allow()
    breaker.release()  # cancelled trial: the slot is free again
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_breaker_ignores_late_results_while_open() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_success()  # a call admitted before it opened
    assert breaker.state is BreakerState.OPEN


async def test_cancelled_trial_frees_the_half_open_slot(trained: TrainedModel) -> None:
    started = asyncio.Event()

    class Stuck:
        model_name = "stuck-model"

        async def predict(self, rows: np.ndarray) -> np.ndarray:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("never answers")

    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=1, reset_after_s=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    fallback = FallbackPredictor(Stuck(), InProcessPredictor(trained.booster), breaker)
    task = asyncio.create_task(fallback.predict(trained.rows[:1]))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the next call gets the trial
