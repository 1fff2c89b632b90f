"""One viewer's live view of the alarm list: which events of the ``alarms`` feed it shows.

A page shows the alarms with ids from ``oldest`` to ``newest``; their rows are swapped in as
they change. When it shows the newest alarms (``top``), an alarm newer than any it showed that
matches its filters is sent whole, to go on top. A row's history (shown when the row is
expanded) is asked for again when what it shows changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.sse import ServerSentEvent

from shopfloor.web.alarm_views.feed import SUMMARY_KEY, alarm_id_of
from shopfloor.web.alarm_views.filters import AlarmFilters
from shopfloor.web.alarm_views.fragments import alarm_html, row_html, view_context
from shopfloor.web.alarm_views.rows import AlarmRow
from shopfloor.web.live import LiveEvent
from shopfloor.web.templating import render_string

NEW_EVENT = "alarm-new"
SUMMARY_EVENT = "alarm-summary"


def row_event(alarm_id: int) -> str:
    return f"alarm-{alarm_id}"


def record_event(alarm_id: int) -> str:
    return f"alarm-{alarm_id}-record"


@dataclass
class ListView:
    """What one page shows, and what it has been sent since."""

    request: Request
    filters: AlarmFilters
    oldest: int
    newest: int
    top: bool
    added: set[int] = field(default_factory=set)
    records: dict[int, tuple[Any, ...]] = field(default_factory=dict)

    def render(self, event: LiveEvent) -> Iterator[ServerSentEvent]:
        if event.key == SUMMARY_KEY and event.data is not None:
            html = render_string(
                self.request, "alarms/summary.html", view_context(summary=event.data), page=False
            )
            yield ServerSentEvent(event=SUMMARY_EVENT, raw_data=html)
            return
        alarm_id = alarm_id_of(event.key)
        row: AlarmRow | None = event.data
        if alarm_id is None or row is None:
            return
        if self.oldest <= alarm_id <= self.newest or alarm_id in self.added:
            yield ServerSentEvent(event=row_event(alarm_id), raw_data=row_html(self.request, row))
            if self.records.get(alarm_id) != (key := row.record_key()):
                self.records[alarm_id] = key
                yield ServerSentEvent(event=record_event(alarm_id), data="")
        elif (
            self.top
            and alarm_id > self.newest
            and self.filters.matches(row.state, row.severity, row.paths)
        ):
            self.added.add(alarm_id)
            self.records[alarm_id] = row.record_key()
            yield ServerSentEvent(event=NEW_EVENT, raw_data=alarm_html(self.request, row))
