"""Prometheus metrics of the process. Names are part of the public contract."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

# The *_created samples only add noise to every scrape.
disable_created_metrics()

READINGS_INGESTED = Counter(
    "shopfloor_readings_ingested_total", "Readings committed to the store (duplicates excluded)."
)
READINGS_DUPLICATE = Counter(
    "shopfloor_readings_duplicate_total", "Readings ignored because they were already stored."
)
READINGS_REJECTED = Counter(
    "shopfloor_readings_rejected_total",
    "Readings refused: every reading of a refused batch counts.",
    ["reason"],
)
HTTP_DURATION = Histogram(
    "shopfloor_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
