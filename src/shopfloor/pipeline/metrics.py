"""Prometheus metrics of the pipeline per stage and topic. Names are part of the public contract."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "shopfloor_pipeline_messages_total",
    "Messages settled by a stage: processed (acknowledged), retried (failed, to be delivered "
    "again) or dead (moved to the dead letters).",
    ["stage", "topic", "outcome"],
)
LAG = Gauge(
    "shopfloor_pipeline_lag_seconds",
    "Age of the oldest message the stage has not acknowledged, as the bus reports it, or of "
    "the newest message the stage has just handled.",
    ["stage", "topic"],
)
BATCH_SECONDS = Histogram(
    "shopfloor_pipeline_batch_seconds",
    "Time to handle and settle one batch.",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESTARTS = Counter(
    "shopfloor_pipeline_restarts_total",
    "Times a stage's consume loop crashed and was restarted by its supervisor.",
    ["stage"],
)

PROCESSED, RETRIED, DEAD = "processed", "retried", "dead"


def count(stage: str, topic: str, outcome: str, amount: int = 1) -> None:
    if amount:
        MESSAGES.labels(stage=stage, topic=topic, outcome=outcome).inc(amount)
