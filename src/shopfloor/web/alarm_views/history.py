"""An alarm's history, oldest first: opened, escalated, acknowledged, notes, resolved, closed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shopfloor.web.alarm_views.rows import AlarmRow


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    kind: str  # opened | escalated | acknowledged | note | resolved | closed | seen
    title: str
    who: str | None = None
    text: str | None = None


def history(row: AlarmRow, notes: Iterable[dict[str, Any]]) -> list[Entry]:
    """What happened to the alarm; ``notes`` as ``alarms.publish.note_document`` makes them
    (``created_at`` parsed to a datetime by the caller)."""
    entries = [Entry(row.opened_at, "opened", "Opened", text=row.message)]
    if row.count > 1:
        entries.append(
            Entry(row.last_seen_at, "seen", f"Seen again, {row.count} occurrences in all")
        )
    if row.escalation_level and row.escalated_at is not None:
        entries.append(
            Entry(row.escalated_at, "escalated", f"Escalated to level {row.escalation_level}")
        )
    if row.acknowledged_at is not None:
        entries.append(
            Entry(row.acknowledged_at, "acknowledged", "Acknowledged", who=row.acknowledged_by)
        )
    entries += [
        Entry(note["created_at"], "note", "Note", who=note["author"], text=note["text"])
        for note in notes
    ]
    if row.resolved_at is not None:
        if row.resolution == "condition":
            entries.append(
                Entry(row.resolved_at, "resolved", "Resolved: the condition cleared by itself")
            )
        else:
            entries.append(Entry(row.resolved_at, "resolved", "Resolved", who=row.resolved_by))
    if row.closed_at is not None:
        entries.append(Entry(row.closed_at, "closed", "Closed"))
    order = {"opened": 0, "seen": 1, "escalated": 2, "acknowledged": 3, "note": 4}
    return sorted(entries, key=lambda e: (e.at, order.get(e.kind, 5)))
