"""The live state of the connectors this process runs: metrics, readiness and a heartbeat row.

Each running connector registers its ``ConnectorState`` here. ``/metrics`` reads them through
a collector (the counters live on the states); the runner writes them to ``connector_status``
every few seconds, so that ``GET /connectors`` answers in any process, and shows a connector
whose process stopped reporting as stale.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from shopfloor.connectors.base import ConnectorState

_running: dict[str, ConnectorState] = {}


def register(state: ConnectorState) -> None:
    _running[state.name] = state


def unregister(name: str) -> None:
    _running.pop(name, None)


def running() -> list[ConnectorState]:
    return list(_running.values())


def note_message(state: ConnectorState, count: int = 1) -> None:
    state.messages += count
    state.last_message_at = time.time()


def note_error(state: ConnectorState, error: str) -> None:
    state.errors += 1
    state.last_error = error[:500]
    state.last_error_at = time.time()


def set_connected(state: ConnectorState, connected: bool) -> None:
    state.connected = connected


# Counted on the state itself (a plain attribute increment per message) and read from there at
# scrape time: a labelled Counter costs a lock and a lookup for every message.
_COUNTERS = (
    ("messages", "shopfloor_connector_messages", "Messages received by a connector."),
    ("readings", "shopfloor_connector_readings", "Readings a connector stored (new ones)."),
    (
        "dead_letters",
        "shopfloor_connector_dead_letters",
        "Messages a connector could not store, kept in the dead letters.",
    ),
    ("rejected", "shopfloor_connector_rejected", "Values the source itself marked bad."),
    ("errors", "shopfloor_connector_errors", "Connection and storage errors (each retried)."),
)


class _StateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        states = running()
        for attribute, name, documentation in _COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=["connector"])
            for state in states:
                family.add_metric([state.name], float(getattr(state, attribute)))
            yield family
        connected = GaugeMetricFamily(
            "shopfloor_connector_connected",
            "1 while a connector is connected to its broker or server.",
            labels=["connector", "kind"],
        )
        last = GaugeMetricFamily(
            "shopfloor_connector_last_message_timestamp_seconds",
            "When a connector last received a message (epoch seconds).",
            labels=["connector"],
        )
        for state in states:
            connected.add_metric([state.name, state.kind], 1.0 if state.connected else 0.0)
            if state.last_message_at is not None:
                last.add_metric([state.name], state.last_message_at)
        yield connected
        yield last


REGISTRY.register(_StateCollector())
