"""Prometheus metrics of notifications. Names are part of the public contract."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "shopfloor_notify_deliveries_total",
    "Deliveries settled for good, by channel kind and final status: sent (alone or in a "
    "digest), dead (permanent error or out of attempts) or skipped (quiet hours, channel off).",
    ["kind", "status"],
)
ATTEMPTS = Counter(
    "shopfloor_notify_attempts_total",
    "Messages handed to a receiver (a digest counts once), by channel kind.",
    ["kind"],
)
FAILURES = Counter(
    "shopfloor_notify_failures_total",
    "Attempts that failed, by channel kind and what follows: retry or dead.",
    ["kind", "outcome"],
)
DIGESTS = Counter(
    "shopfloor_notify_digests_total",
    "Digest messages sent because a channel reached its rate limit, by channel kind.",
    ["kind"],
)
PENDING = Gauge(
    "shopfloor_notify_pending",
    "Deliveries not yet settled (waiting, held by a rate limit, being sent, to be retried).",
)
SEND_SECONDS = Histogram(
    "shopfloor_notify_send_seconds",
    "Time to hand one message to its receiver, by channel kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

SENT, RETRY, DEAD, SKIPPED = "sent", "retry", "dead", "skipped"
