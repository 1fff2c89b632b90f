"""The alarms that need someone, counted: the line above the alarm list."""

from __future__ import annotations

from dataclasses import dataclass

from shopfloor.alarms.events import SEVERITIES

SEVERITIES_WORST_FIRST: tuple[str, ...] = tuple(reversed(SEVERITIES))


@dataclass(frozen=True, slots=True)
class AlarmSummary:
    """Alarms not closed, by (state, severity)."""

    counts: tuple[tuple[str, str, int], ...] = ()

    @classmethod
    def of(cls, counts: dict[tuple[str, str], int]) -> AlarmSummary:
        return cls(tuple(sorted((state, sev, n) for (state, sev), n in counts.items() if n)))

    def count(self, state: str, severity: str | None = None) -> int:
        return sum(n for s, sev, n in self.counts if s == state and severity in (None, sev))

    def open_by_severity(self) -> list[tuple[str, int]]:
        """Open alarms per severity, worst first, leaving out severities with none."""
        found = [(sev, self.count("open", sev)) for sev in SEVERITIES_WORST_FIRST]
        return [(sev, n) for sev, n in found if n]
