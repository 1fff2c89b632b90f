"""Sensor path → id, cached: the ingest hot path must not query the sensors table per batch.

Entries expire after a while so that a sensor deleted by another process stops being used.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.plant import repository

TTL_SECONDS = 60.0


class SensorDirectory:
    def __init__(self, ttl_seconds: float = TTL_SECONDS) -> None:
        self.ttl = ttl_seconds
        self._ids: dict[str, tuple[int, float]] = {}

    def cached(self, paths: Sequence[str]) -> tuple[dict[str, int], list[str]]:
        now = time.monotonic()
        found: dict[str, int] = {}
        missing: list[str] = []
        for path in paths:
            entry = self._ids.get(path)
            if entry is not None and now - entry[1] < self.ttl:
                found[path] = entry[0]
            else:
                missing.append(path)
        return found, missing

    async def resolve(self, session: AsyncSession, paths: Sequence[str]) -> dict[str, int]:
        """Ids of the paths that name a sensor; unknown paths are simply absent."""
        found, missing = self.cached(paths)
        if missing:
            fresh = await repository.sensor_ids_by_path(session, missing)
            self.remember(fresh)
            found.update(fresh)
        return found

    def remember(self, ids: dict[str, int]) -> None:
        now = time.monotonic()
        self._ids.update({path: (sensor_id, now) for path, sensor_id in ids.items()})

    def forget(self, path: str) -> None:
        self._ids.pop(path, None)
