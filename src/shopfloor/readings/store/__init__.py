"""The time-series store: one narrow table per dialect, with 1m/1h/1d rollups."""

from __future__ import annotations

from shopfloor.readings.store.base import ReadingStore
from shopfloor.readings.store.postgres import PostgresReadingStore
from shopfloor.readings.store.sqlite import SqliteReadingStore

STORES: dict[str, type[ReadingStore]] = {
    "sqlite": SqliteReadingStore,
    "postgresql": PostgresReadingStore,
}


def store_for(dialect: str) -> ReadingStore:
    return STORES[dialect]()


__all__ = ["ReadingStore", "store_for"]
