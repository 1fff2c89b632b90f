"""Prometheus metrics of model serving. Names and labels are part of the public contract."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter(
    "shopfloor_model_predictions_total",
    "Prediction calls answered (one per call, whatever the batch size), by the backend that "
    "answered (remote or in_process) and model.",
    ["backend", "model"],
)
FALLBACKS = Counter(
    "shopfloor_model_fallbacks_total",
    "Calls answered by the in-process model instead of the remote server, by model and reason: "
    "error (the remote call failed) or open (the circuit breaker kept the call off the network).",
    ["model", "reason"],
)
BREAKER_OPEN = Gauge(
    "shopfloor_model_breaker_open",
    "1 while the circuit breaker in front of a model's remote server is open or half-open "
    "(remote not trusted), 0 while it is closed.",
    ["model"],
)
INFERENCE_SECONDS = Histogram(
    "shopfloor_model_inference_seconds",
    "Time of one answered prediction call, retries included, by backend and model.",
    ["backend", "model"],
    # Single rows in process take tens of microseconds; a remote batch can take a second.
    buckets=(
        0.00005,
        0.0001,
        0.00025,
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
        5,
    ),
)

REMOTE, IN_PROCESS = "remote", "in_process"
ERROR, OPEN = "error", "open"
