"""The live feed of alarm changes (topic ``alarms``), polled by the broadcaster.

Keys and what their events carry:
- ``alarm:<id>``: that alarm's ``AlarmRow`` when it is new or changed (a new occurrence, a
  state change, an assignee, a note), and once more when it closes and leaves the watched set;
  None once it is gone (its sensor was deleted);
- ``summary``: the ``AlarmSummary`` of the alarms not closed.

What is compared each turn: the alarms that can still change (all not closed) and the newest
alarms in any state (``rows.watched_rows``), one read per turn for every viewer of the process.
"""

from __future__ import annotations

from typing import Any

from shopfloor.storage import Database
from shopfloor.web.alarm_views.rows import counts_by_state, rows_by_id, watched_rows
from shopfloor.web.alarm_views.summary import AlarmSummary
from shopfloor.web.live.broadcaster import LiveEvent
from shopfloor.web.live.feeds import StateFeed

ALARMS = "alarms"
ALARM_KEY = "alarm:"
SUMMARY_KEY = "summary"
WATCH_NEWEST = 200


def alarm_id_of(key: str | None) -> int | None:
    if key is None or not key.startswith(ALARM_KEY):
        return None
    return int(key[len(ALARM_KEY) :])


class AlarmFeed(StateFeed):
    topic = ALARMS

    def __init__(self, newest: int = WATCH_NEWEST) -> None:
        super().__init__()
        self.newest = newest  # closed alarms are watched while they are among the newest

    async def read(self, db: Database) -> dict[str, Any]:
        async with db.read() as session:
            rows = await watched_rows(session, newest=self.newest)
            counts = await counts_by_state(session)
        states: dict[str, Any] = {f"{ALARM_KEY}{row.id}": row for row in rows}
        states[SUMMARY_KEY] = AlarmSummary.of(counts)
        return states

    async def poll(self, db: Database, watched: frozenset[str]) -> list[LiveEvent]:
        events = await super().poll(db, watched)
        # An alarm leaves the watched set when it closes: report how it ended, once.
        left = [i for e in events if e.data is None and (i := alarm_id_of(e.key)) is not None]
        if not left:
            return events
        async with db.read() as session:
            final = {f"{ALARM_KEY}{row.id}": row for row in await rows_by_id(session, left)}
        return [
            LiveEvent(e.topic, final.get(e.key), e.key) if e.key in final else e for e in events
        ]
