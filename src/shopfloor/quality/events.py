"""``quality.measured``: every measurement an inspection records, for the SPC stage.

Measurements are written to the outbox in the transaction that stores them and published after
the commit (the request hands them to the relay; after a crash the relay's recovery publishes
what was left), one envelope per measurement:

    Envelope(topic="quality.measured", key="characteristic/<characteristic_id>", id="outbox-<n>",
             payload={"measurement_id", "characteristic_id", "part_id", "lot_id",
                      "inspection_id", "line", "value", "subgroup", "unit_serial",
                      "measured_at"})

The key is the characteristic: SPC charts are per characteristic, and a bus that orders by key
keeps each chart's points in order. ``line`` is the lot's ISA-95 path or null; ``measured_at``
is RFC 3339 UTC. Delivery is at least once: the SPC stage dedupes on the envelope id (or on
``measurement_id``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.bus import outbox
from shopfloor.bus.message import Envelope

QUALITY_MEASURED = "quality.measured"


def measured_key(characteristic_id: int) -> str:
    return f"characteristic/{characteristic_id}"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event written to the outbox, to hand to the relay once its transaction committed."""

    row_id: int
    envelope: Envelope


async def record_measured(
    session: AsyncSession, payloads: list[dict[str, Any]]
) -> list[PendingEvent]:
    """Write one ``quality.measured`` event per payload, in the caller's transaction."""
    keyed = [(measured_key(payload["characteristic_id"]), payload) for payload in payloads]
    recorded = await outbox.add_many(session, QUALITY_MEASURED, keyed)
    return [
        PendingEvent(
            row_id,
            Envelope(
                topic=QUALITY_MEASURED,
                key=key,
                payload=payload,
                id=f"outbox-{row_id}",  # what the relay's recovery would publish it as
                created_at=created_at,
            ),
        )
        for (row_id, created_at), (key, payload) in zip(recorded, keyed, strict=True)
    ]


def offer(relay: outbox.OutboxRelay | None, events: Iterable[PendingEvent]) -> None:
    """Hand committed events to the relay (without one, its recovery publishes them later)."""
    if relay is None:
        return
    for event in events:
        relay.offer(event.row_id, lambda envelope=event.envelope: [envelope])
