"""How the states of lots and inspections are shown: a label and a badge (colour, shape, word).

A lot has no state of its own: it reads as its latest inspection that was not cancelled says
(planned, in inspection, or the disposition of a completed one), else "not inspected".
"""

from __future__ import annotations

from dataclasses import dataclass

from shopfloor.quality.models import CANCELLED, COMPLETED, IN_PROGRESS, PLANNED


@dataclass(frozen=True, slots=True)
class Shown:
    """A state as the page shows it: ``key`` picks the badge's style, ``label`` is the word."""

    key: str
    label: str


NOT_INSPECTED = Shown("none", "Not inspected")
INSPECTION_STATES = {
    PLANNED: Shown("planned", "Planned"),
    IN_PROGRESS: Shown("in_progress", "In progress"),
    CANCELLED: Shown("cancelled", "Cancelled"),
}
DISPOSITIONS = {
    "accept": Shown("accept", "Accepted"),
    "reject": Shown("reject", "Rejected"),
    "rework": Shown("rework", "Rework"),
    "hold": Shown("hold", "On hold"),
}
KINDS = {"incoming": "Incoming", "in_process": "In-process", "final": "Final"}
LOT_FILTERS = {
    "none": "Not inspected",
    "planned": "Inspection planned",
    "in_progress": "In inspection",
    **{key: shown.label for key, shown in DISPOSITIONS.items()},
}


def inspection_shown(state: str, disposition: str | None) -> Shown:
    """A completed inspection shows its disposition; the others their state."""
    if state == COMPLETED and disposition in DISPOSITIONS:
        return DISPOSITIONS[disposition]
    return INSPECTION_STATES.get(state, Shown(state, state.replace("_", " ").capitalize()))


def lot_shown(state: str | None, disposition: str | None) -> Shown:
    """A lot as its latest inspection that was not cancelled says (None: there is none)."""
    if state is None or state == CANCELLED:
        return NOT_INSPECTED
    if state == IN_PROGRESS:
        return Shown("in_progress", "In inspection")
    if state == PLANNED:
        return Shown("planned", "Inspection planned")
    return inspection_shown(state, disposition)
