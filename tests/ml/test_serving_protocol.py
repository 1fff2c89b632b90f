"""The Open Inference Protocol client against a real HTTP server that answers as scripted:
retries on 5xx, no retry on 4xx, and the responses it refuses to read."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from shopfloor.ml.serving import (
    InferenceRequestError,
    InferenceResponseError,
    InferenceUnavailableError,
    RemotePredictor,
)
from tests.fixtures.servers import free_port

MODEL = "quality-rul"
Answer = tuple[int, Any]  # status, a JSON document (or text)


@contextlib.asynccontextmanager
async def scripted_server(answer: Callable[[dict[str, Any]], Answer]) -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 whose every POST is answered by ``answer(body)``."""

    async def infer(request: Request) -> Response:
        status, content = answer(json.loads(await request.body()))
        if isinstance(content, str):
            return PlainTextResponse(content, status_code=status)
        return JSONResponse(content, status_code=status)

    app = Starlette(routes=[Route("/{path:path}", infer, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def infer_response(values: list[float], shape: list[int]) -> Answer:
    return 200, {
        "model_name": MODEL,
        "outputs": [{"name": "predict", "shape": shape, "datatype": "FP64", "data": values}],
    }


async def test_5xx_is_retried_then_succeeds() -> None:
    answers = [
        (503, {"error": "model not ready"}),
        (500, "boom"),
        infer_response([0.5, 1.5], [2, 1]),
    ]
    bodies: list[dict[str, object]] = []

    def answer(body: dict[str, Any]) -> Answer:
        bodies.append(body)
        return answers[len(bodies) - 1]

    async with (
        scripted_server(answer) as url,
        RemotePredictor(url, "m", "3", retries=2, backoff_s=0) as remote,
    ):
        outputs = await remote.predict(np.array([[1.0, 2.0], [3.0, 4.0]]))
        assert remote.infer_url == f"{url}/v2/models/m/versions/3/infer"
    np.testing.assert_array_equal(outputs, [0.5, 1.5])
    assert len(bodies) == 3
    assert bodies[0] == {
        "inputs": [
            {"name": "input-0", "shape": [2, 2], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}
        ]
    }


async def test_5xx_on_every_attempt_names_each_failure() -> None:
    async with (
        scripted_server(lambda _: (503, {"error": "model not ready"})) as url,
        RemotePredictor(url, "m", retries=1, backoff_s=0) as remote,
    ):
        with pytest.raises(InferenceUnavailableError, match="failed 2 attempt"):
            await remote.predict(np.zeros((1, 2)))


async def test_400_is_not_retried() -> None:
    calls: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> Answer:
        calls.append(body)
        return 400, {"error": "shape [1, 2] does not match [-1, 8]"}

    async with scripted_server(answer) as url, RemotePredictor(url, "m", retries=5) as remote:
        with pytest.raises(InferenceRequestError, match=r"HTTP 400: shape \[1, 2\]"):
            await remote.predict(np.zeros((1, 2)))
    assert len(calls) == 1


async def test_multi_output_and_bad_responses() -> None:
    replies = iter(
        [
            infer_response([0.1, 0.9, 0.7, 0.3], [2, 2]),
            (200, {"outputs": []}),
            infer_response([1.0, 2.0, 3.0], [3]),
        ]
    )
    async with scripted_server(lambda _: next(replies)) as url, RemotePredictor(url, "m") as remote:
        rows = np.zeros((2, 4))
        assert (await remote.predict(rows)).shape == (2, 2)
        with pytest.raises(InferenceResponseError, match="no usable outputs"):
            await remote.predict(rows)
        with pytest.raises(InferenceResponseError, match=r"shape \[3\] for 2 row"):
            await remote.predict(rows)
        with pytest.raises(ValueError, match="2-D"):
            await remote.predict(np.zeros(4))
        assert (await remote.predict(np.zeros((0, 4)))).shape == (0,)
