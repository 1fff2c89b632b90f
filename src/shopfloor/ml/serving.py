"""Serving backends for the platform's models: in process by default, or remote.

- ``InProcessPredictor`` runs a LightGBM booster in this process.
- ``RemotePredictor`` (``serving_remote``) asks an Open Inference Protocol server (MLServer,
  Triton) with timeouts and retries.
- ``FallbackPredictor`` puts a ``CircuitBreaker`` in front of a remote predictor and answers
  from the in-process model when the remote fails or the breaker is open, counting each
  fallback in ``shopfloor_model_fallbacks_total``.

Every backend takes a 2-D feature matrix in the model's feature order and returns one output
per row (1-D; ``(rows, k)`` for models with k outputs per row, e.g. multiclass).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

import lightgbm
import numpy as np
import structlog

from shopfloor.ml.breaker import BreakerState, CircuitBreaker
from shopfloor.ml.serving_metrics import (
    BREAKER_OPEN,
    ERROR,
    FALLBACKS,
    IN_PROCESS,
    INFERENCE_SECONDS,
    OPEN,
    PREDICTIONS,
)
from shopfloor.ml.serving_remote import (
    InferenceError,
    InferenceRequestError,
    InferenceResponseError,
    InferenceUnavailableError,
    RemotePredictor,
    as_matrix,
    flatten_outputs,
)

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "FallbackPredictor",
    "InProcessPredictor",
    "InferenceError",
    "InferenceRequestError",
    "InferenceResponseError",
    "InferenceUnavailableError",
    "Predictor",
    "RemotePredictor",
]

log = structlog.get_logger("shopfloor.ml.serving")


@runtime_checkable
class Predictor(Protocol):
    async def predict(self, rows: np.ndarray) -> np.ndarray:
        """Outputs for a 2-D float32/float64 feature matrix in the model's feature order."""
        ...


class InProcessPredictor:
    """A LightGBM booster run in this process.

    Batches of more than ``inline_max_rows`` rows run on a worker thread so the event loop
    keeps serving while the trees are walked (LightGBM releases the GIL and takes only a shared
    lock on the booster, so such calls run in parallel), on LightGBM's OpenMP threads. Smaller
    ones run inline, where handing them to a thread would cost more than the prediction, and
    on one OpenMP thread: a few rows gain nothing from fanning out, and when another process
    holds a core the call waits for a descheduled OpenMP thread (single-row p99 ~9 ms instead
    of ~0.2 ms on a busy 2-core machine).
    """

    def __init__(
        self, booster: lightgbm.Booster, *, model_name: str = "default", inline_max_rows: int = 64
    ) -> None:
        self.booster = booster
        self.model_name = model_name
        self.inline_max_rows = inline_max_rows
        self.num_features = booster.num_feature()

    async def predict(self, rows: np.ndarray) -> np.ndarray:
        matrix = as_matrix(rows)
        if matrix.shape[1] != self.num_features:
            raise ValueError(
                f"model {self.model_name!r} takes {self.num_features} features, "
                f"got {matrix.shape[1]}"
            )
        if matrix.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        started = time.perf_counter()
        if matrix.shape[0] > self.inline_max_rows:
            outputs = await asyncio.to_thread(self.booster.predict, matrix)
        else:
            outputs = self.booster.predict(matrix, num_threads=1)  # per call, not global
        PREDICTIONS.labels(IN_PROCESS, self.model_name).inc()
        INFERENCE_SECONDS.labels(IN_PROCESS, self.model_name).observe(time.perf_counter() - started)
        return flatten_outputs(np.asarray(outputs, dtype=np.float64), matrix.shape[0])

    def __repr__(self) -> str:
        return f"InProcessPredictor(model_name={self.model_name!r})"


class FallbackPredictor:
    """The remote model while its circuit breaker allows, the local one otherwise.

    A failed remote call (any exception but a cancellation) counts against the breaker and the
    call is answered locally (``reason="error"``); while the breaker is open, calls go straight
    to the local model (``reason="open"``) until the half-open trial call succeeds. Malformed
    rows are the caller's mistake: they raise ValueError before any backend is asked.
    ``model`` labels the metrics; by default the remote's ``model_name``.
    """

    def __init__(
        self,
        remote: Predictor,
        local: Predictor,
        breaker: CircuitBreaker | None = None,
        *,
        model: str | None = None,
    ) -> None:
        self.remote = remote
        self.local = local
        self.breaker = breaker or CircuitBreaker()
        self.model = model or str(getattr(remote, "model_name", "default"))
        self._published: BreakerState | None = None
        self._publish_state()

    async def predict(self, rows: np.ndarray) -> np.ndarray:
        matrix = as_matrix(rows)
        if not self.breaker.allow():
            FALLBACKS.labels(self.model, OPEN).inc()
            self._publish_state()
            return await self.local.predict(matrix)
        self._publish_state()  # allow() may have turned the breaker half-open
        try:
            outputs = await self.remote.predict(matrix)
        except Exception as exc:
            self.breaker.record_failure()
            FALLBACKS.labels(self.model, ERROR).inc()
            log.warning(
                "remote model failed; answering in process",
                model=self.model,
                error=str(exc),
                error_type=type(exc).__name__,
                breaker=self.breaker.state.value,
            )
            self._publish_state()
            return await self.local.predict(matrix)
        except BaseException:
            # Cancelled: no verdict on the server, but a half-open trial slot must not leak.
            self.breaker.release()
            raise
        self.breaker.record_success()
        self._publish_state()
        return outputs

    def _publish_state(self) -> None:
        state = self.breaker.state
        BREAKER_OPEN.labels(self.model).set(0 if state is BreakerState.CLOSED else 1)
        if state is not self._published:
            if self._published is not None:
                log.info("model circuit breaker changed", model=self.model, state=state.value)
            self._published = state

    def __repr__(self) -> str:
        return f"FallbackPredictor(model={self.model!r}, {self.breaker!r})"
