"""The live feed of each characteristic's measurements (topics ``quality.characteristic:<id>``).

A chart page watches its characteristic's topic; the feed reads how many measurements the
watched characteristics have and the newest one's id (one grouped query per poll, whichever
process recorded them), and reports those that changed. The event's ``data`` is the chart's
``fingerprint``: the page asks for the chart again when it differs from the one it drew.
"""

from __future__ import annotations

from sqlalchemy import func, select

from shopfloor.quality.models import Measurement
from shopfloor.storage import Database
from shopfloor.web.live import LiveEvent
from shopfloor.web.quality.charts import fingerprint

PREFIX = "quality.characteristic:"


def topic_of(characteristic_id: int) -> str:
    return f"{PREFIX}{characteristic_id}"


def _characteristic_of(topic: str) -> int | None:
    tail = topic.removeprefix(PREFIX)
    return int(tail) if topic.startswith(PREFIX) and tail.isdigit() else None


class MeasurementFeed:
    """Keyed events (the key is the topic): the newest state of a chart's data."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def serves(self, topic: str) -> bool:
        return _characteristic_of(topic) is not None

    async def poll(self, db: Database, watched: frozenset[str]) -> list[LiveEvent]:
        wanted = {c: t for t in watched if (c := _characteristic_of(t)) is not None}
        if not wanted:
            return []
        query = (
            select(Measurement.characteristic_id, func.count(), func.max(Measurement.id))
            .where(Measurement.characteristic_id.in_(sorted(wanted)))
            .group_by(Measurement.characteristic_id)
        )
        async with db.read() as session:
            found = {c: fingerprint(n, last) for c, n, last in await session.execute(query)}
        events = []
        for characteristic_id, topic in wanted.items():
            state = found.get(characteristic_id, fingerprint(0, None))
            if self._last.get(topic) != state:
                self._last[topic] = state
                events.append(LiveEvent(topic, state, key=topic))
        for topic in self._last.keys() - watched:
            del self._last[topic]  # nobody watches it now: report it afresh next time
        return events

    def snapshot(self, topics: frozenset[str]) -> list[LiveEvent]:
        return [LiveEvent(t, self._last[t], key=t) for t in topics if t in self._last]

    def forget(self) -> None:
        self._last.clear()
