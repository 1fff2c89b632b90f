"""The alarm list's filters, read from and written to the URL (so a view can be shared).

The same filters as ``GET /api/v1/alarms``: ``state`` and ``severity`` may repeat,
``under=PATH`` keeps the alarms of sensors at or under the path and those filed there (SPC and
asset alarms). A value the list cannot use is left out and named in ``problems``, so a bad link
still shows a page, and says what was ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from shopfloor.alarms.events import SEVERITIES
from shopfloor.core.errors import BadRequest
from shopfloor.core.pagination import decode_cursor, encode_cursor
from shopfloor.core.paths import path_problem
from shopfloor.storage.lookup import is_row_id

STATES: tuple[str, ...] = ("open", "acknowledged", "resolved", "closed")
ACTIVE_STATES: tuple[str, ...] = ("open", "acknowledged")


@dataclass(frozen=True)
class AlarmFilters:
    states: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    under: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def read(
        cls, states: Iterable[str], severities: Iterable[str], under: str | None
    ) -> AlarmFilters:
        problems: list[str] = []
        kept_states = _known(states, STATES, "state", problems)
        kept_severities = _known(severities, SEVERITIES, "severity", problems)
        path = (under or "").strip().strip("/") or None
        if path is not None and (problem := path_problem(path)):
            problems.append(f"The path {path!r} was ignored: {problem}.")
            path = None
        return cls(kept_states, kept_severities, path, tuple(problems))

    @property
    def active(self) -> bool:
        return bool(self.states or self.severities or self.under)

    def matches(self, state: str, severity: str, paths: Iterable[str | None]) -> bool:
        """Whether an alarm in ``state`` of ``severity``, filed at ``paths``, is in this view."""
        if self.states and state not in self.states:
            return False
        if self.severities and severity not in self.severities:
            return False
        if self.under is None:
            return True
        return any(
            path is not None and (path == self.under or path.startswith(self.under + "/"))
            for path in paths
        )

    def query(self, **extra: str | int | None) -> str:
        """The query string of this view (with ``extra`` parameters), without the ``?``."""
        pairs: list[tuple[str, str]] = [("state", state) for state in self.states]
        pairs += [("severity", severity) for severity in self.severities]
        if self.under:
            pairs.append(("under", self.under))
        pairs += [(name, str(value)) for name, value in extra.items() if value is not None]
        return urlencode(pairs)

    def url(self, path: str = "/alarms", **extra: str | int | None) -> str:
        query = self.query(**extra)
        return f"{path}?{query}" if query else path


def _known(
    values: Iterable[str], allowed: tuple[str, ...], name: str, problems: list[str]
) -> tuple[str, ...]:
    kept: list[str] = []
    for value in values:
        value = value.strip()
        if value in allowed:
            if value not in kept:
                kept.append(value)
        elif value:
            problems.append(f"The {name} {value!r} was ignored: it is one of {', '.join(allowed)}.")
    return tuple(sorted(kept, key=allowed.index))


def read_cursor(cursor: str | None) -> tuple[int | None, str | None]:
    """The id the page starts below, or None and why the cursor was not used."""
    if not cursor:
        return None, None
    try:
        before = decode_cursor(cursor, int)
    except BadRequest:
        before = None
    if before is None or not is_row_id(before):
        return None, "That page link is not one this list made; showing the newest alarms."
    return before, None


def next_cursor(last_id: int) -> str:
    return encode_cursor(last_id)
