"""A model served by another process over the Open Inference Protocol (KServe v2, REST).

MLServer, Triton and KServe's own runtimes speak it: ``POST /v2/models/{name}/infer`` with a
tensor of features, answered with a tensor of outputs.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx
import numpy as np
import orjson

from shopfloor.ml.serving_metrics import INFERENCE_SECONDS, PREDICTIONS, REMOTE

_DTYPES: dict[str, type[np.floating[Any]]] = {"FP32": np.float32, "FP64": np.float64}
_HEADERS = {"content-type": "application/json"}


class InferenceError(Exception):
    """A remote model did not answer a prediction."""


class InferenceRequestError(InferenceError):
    """The server refused the request (4xx, e.g. an unknown model): retrying cannot help."""

    def __init__(self, url: str, status_code: int, detail: str) -> None:
        self.url = url
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"{url} refused the request: HTTP {status_code}: {detail}")


class InferenceUnavailableError(InferenceError):
    """Every attempt failed (no connection, timeout, 5xx); ``errors`` has one line each."""

    def __init__(self, url: str, errors: list[str]) -> None:
        self.url = url
        self.errors = errors
        super().__init__(f"{url} failed {len(errors)} attempt(s): {'; '.join(errors)}")


class InferenceResponseError(InferenceError):
    """The server answered 200 with a body that is not a usable inference response."""


def as_matrix(rows: np.ndarray) -> np.ndarray:
    """The rows as a 2-D float array, or ValueError (a caller's mistake, not a server's)."""
    matrix = np.asarray(rows)
    if matrix.ndim != 2:
        raise ValueError(f"rows must be a 2-D feature matrix, got shape {matrix.shape}")
    if matrix.dtype not in (np.float32, np.float64):
        matrix = matrix.astype(np.float64)
    return matrix


def flatten_outputs(outputs: np.ndarray, rows: int) -> np.ndarray:
    """One value per row comes back 1-D; several per row (multiclass) stay ``(rows, k)``."""
    if outputs.ndim > 1 and math.prod(outputs.shape[1:]) == 1:
        return outputs.reshape(rows)
    return outputs


def _error_detail(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "error" in body:  # the protocol's error body
        return str(body["error"])
    return response.text[:500]


class RemotePredictor:
    """Predictions from a model on an Open Inference Protocol server.

    Each attempt is bounded by ``timeout_s`` of wall-clock time (connect, send, wait, read
    together). Connection errors, timeouts and 5xx answers are tried again up to ``retries``
    times, after ``backoff_s`` doubled at each retry (with jitter, so clients that failed
    together do not come back together); a 4xx answer is raised at once as
    ``InferenceRequestError``. Features go as ``datatype`` (FP32 by default, what LightGBM and
    Triton's tree backends compare in); outputs come back as float64.
    """

    def __init__(
        self,
        base_url: str,
        model_name: str,
        version: str | None = None,
        *,
        timeout_s: float = 1.0,
        retries: int = 2,
        backoff_s: float = 0.05,
        client: httpx.AsyncClient | None = None,
        input_name: str = "input-0",
        datatype: Literal["FP32", "FP64"] = "FP32",
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if retries < 0:
            raise ValueError("retries cannot be negative")
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.version = version
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.input_name = input_name
        self.datatype = datatype
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        model_path = f"/v2/models/{quote(model_name, safe='')}"
        if version is not None:
            model_path += f"/versions/{quote(version, safe='')}"
        self.infer_url = f"{self.base_url}{model_path}/infer"
        self.ready_url = f"{self.base_url}{model_path}/ready"

    async def predict(self, rows: np.ndarray) -> np.ndarray:
        matrix = as_matrix(rows)
        if matrix.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        started = time.perf_counter()
        body = self._encode(matrix)
        errors: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff(attempt))
            try:
                # httpx's own timeouts bound each phase apart; this bounds the whole attempt.
                async with asyncio.timeout(self.timeout_s):
                    response = await self._client.post(
                        self.infer_url, content=body, headers=_HEADERS
                    )
            except TimeoutError:
                errors.append(f"no answer within {self.timeout_s} s")
                continue
            except httpx.TransportError as exc:
                errors.append(f"{type(exc).__name__}: {exc}".rstrip(": "))
                continue
            if response.status_code >= 500:
                errors.append(f"HTTP {response.status_code}: {_error_detail(response)}")
                continue
            if not response.is_success:  # 4xx, or a redirect: the URL or request is wrong
                raise InferenceRequestError(
                    self.infer_url, response.status_code, _error_detail(response)
                )
            outputs = self._decode(response, matrix.shape[0])
            PREDICTIONS.labels(REMOTE, self.model_name).inc()
            INFERENCE_SECONDS.labels(REMOTE, self.model_name).observe(time.perf_counter() - started)
            return outputs
        raise InferenceUnavailableError(self.infer_url, errors)

    async def ready(self) -> bool:
        """Whether the server says the model is loaded and can answer; no retries."""
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._client.get(self.ready_url)
        except (TimeoutError, httpx.TransportError):
            return False
        return response.status_code == 200

    def _backoff(self, attempt: int) -> float:
        return self.backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)

    def _encode(self, matrix: np.ndarray) -> bytes:
        data = np.ascontiguousarray(matrix, dtype=_DTYPES[self.datatype]).reshape(-1)
        request = {
            "inputs": [
                {
                    "name": self.input_name,
                    "shape": list(matrix.shape),
                    "datatype": self.datatype,
                    "data": data,
                }
            ]
        }
        return orjson.dumps(request, option=orjson.OPT_SERIALIZE_NUMPY)

    def _decode(self, response: httpx.Response, rows: int) -> np.ndarray:
        try:
            output = orjson.loads(response.content)["outputs"][0]
            values = np.asarray(output["data"], dtype=np.float64)
            shape = [int(size) for size in output.get("shape") or [values.size]]
            outputs = values.reshape(shape)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise InferenceResponseError(
                f"{self.infer_url} answered with no usable outputs[0] ({exc!r}): "
                f"{response.text[:300]}"
            ) from exc
        if outputs.ndim == 0 or outputs.shape[0] != rows:
            raise InferenceResponseError(
                f"{self.infer_url} answered shape {list(outputs.shape)} for {rows} row(s)"
            )
        return flatten_outputs(outputs, rows)

    async def aclose(self) -> None:
        """Close the HTTP client if this predictor made it (a client passed in is the
        caller's to close)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RemotePredictor({self.infer_url!r}, timeout_s={self.timeout_s})"
