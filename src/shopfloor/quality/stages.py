"""The ``spc`` stage: SPC alarms from ``quality.measured``.

Per batch, for every characteristic measured, the stage charts all its measurements (the default
chart of ``spc_service``: against the limits stored for it when there are, else limits from all
points), applies the rules and, for each rule broken at a point made of (or including) one of
the batch's new measurements, opens an alarm of kind ``spc`` on the characteristic, or counts on
the one open: ``rule`` is ``spc:<test>`` (``spc:N2``), at most one not closed per
(characteristic, rule). A characteristic with too few points for a chart raises nothing.

Which tests raise alarms: the Nelson tests N1-N8 (the Western Electric tests WE1-WE3 are the
same as N1, N5 and N6, and WE4 nearly N2: both families would raise two alarms for one signal).
Enabled alarm rules of kind ``spc`` whose scope covers the alarm's path choose other tests
(``params.rules``, e.g. ``["WE1", "WE2", "WE3", "WE4"]``). N1/WE1 alarms are critical, the
others warnings. Shelves hold back new alarms under their scope, as for sensors.

An SPC alarm has no sensor: it is filed under ``subject_path``, the line of the lot whose
measurement triggered it, else ``parts/<part number>``. Nothing resolves it by itself (there
is no reading to clear it, and the alarm clock leaves it alone): a person resolves it; once
resolved, the next signal closes it and opens a new one.

Idempotent like the alarm stage: the ids of the messages handled are recorded in the same
transaction as their effects, the unique index settles a race between workers (the loser's
transaction is redone and counts on the winner's alarm), and ``alarm.opened`` goes to the
outbox in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm
from shopfloor.alarms.publish import PendingEvent, alarm_document, offer, record_events
from shopfloor.alarms.shelves import count_suppressed
from shopfloor.alarms.stages import RulesAndShelves, claim_messages
from shopfloor.alarms.transitions import ACTIVE
from shopfloor.bus.message import Envelope
from shopfloor.core.clock import to_epoch_us, utcnow
from shopfloor.core.paths import path_problem
from shopfloor.pipeline.stage import BaseStage
from shopfloor.quality import spc_service
from shopfloor.quality.events import QUALITY_MEASURED
from shopfloor.quality.models import Characteristic, Part
from shopfloor.quality.spc import NELSON, SpcInputError, Violation

log = structlog.get_logger("shopfloor.quality.spc")
KIND = "spc"
CRITICAL = ("WE1", "N1")
MAX_MESSAGE = 500


@dataclass(frozen=True)
class Signal:
    """A test broken at new points of a characteristic's chart."""

    characteristic_id: int
    test: str  # N2
    occurrences: int  # new points at which it is broken
    message: str
    value: float  # the latest such point's
    at: datetime  # its time
    path: str | None

    @property
    def rule(self) -> str:
        return f"{KIND}:{self.test}"


class SpcStage(BaseStage):
    name = "spc"
    topic = QUALITY_MEASURED
    batch_size = 500
    batch_wait_s = 0.05

    def __init__(self) -> None:
        self._known = RulesAndShelves()

    async def handle(self, envelopes: list[Envelope]) -> None:
        batch = {envelope.id: envelope for envelope in envelopes}
        await self._known.refresh(self.context.database)
        for attempt in (1, 2):
            try:
                async with self.context.database.write() as session:
                    fresh = await claim_messages(session, self.name, list(batch))
                    events = await self._apply(session, [batch[i] for i in fresh])
                offer(self.context.relay, events)
                return
            except IntegrityError:
                # Another worker opened the same alarm, or handled the same message, first:
                # the second attempt sees its work and builds on it.
                if attempt == 2:
                    raise

    async def _apply(self, session: AsyncSession, envelopes: list[Envelope]) -> list[PendingEvent]:
        measured = new_measurements(envelopes)
        if not measured:
            return []
        existing = await alarms_not_closed(session, sorted(measured), self.context.database.dialect)
        now = utcnow()
        opened: list[Alarm] = []
        for characteristic_id, ids in sorted(measured.items()):
            for signal in await self._signals(session, characteristic_id, ids):
                alarm = existing.get((characteristic_id, signal.rule))
                new = await self._raise(session, signal, alarm, now)
                if new is not None:
                    opened.append(new)
        await session.flush()
        return await record_events(
            session, [("alarm.opened", alarm_document(alarm, None)) for alarm in opened], now
        )

    async def _signals(
        self, session: AsyncSession, characteristic_id: int, new_ids: set[int]
    ) -> list[Signal]:
        charted = await chart_of(session, characteristic_id)
        if charted is None:
            return []
        characteristic, part, series, built = charted
        new_positions = {i for i, row_id in enumerate(series.ids) if row_id in new_ids}
        if not new_positions:
            return []
        path = series.lines[max(new_positions)] or part_path(part)
        signals = []
        for test, found in fresh_violations(built, self._tests_for(path), new_positions).items():
            latest = found[-1]
            signals.append(
                Signal(
                    characteristic_id=characteristic_id,
                    test=test,
                    occurrences=len(found),
                    message=describe(test, latest.description, characteristic, part),
                    value=built.chart.points[latest.index - 1].value,
                    at=built.times[latest.index - 1],
                    path=path,
                )
            )
        return signals

    def _tests_for(self, path: str | None) -> tuple[str, ...]:
        chosen: set[str] = set()
        for rule in self._known.rules:
            if rule.kind == KIND and rule.covers(path or ""):
                chosen.update(rule.params.get("rules") or NELSON)
        return tuple(sorted(chosen)) if chosen else NELSON

    async def _raise(
        self, session: AsyncSession, signal: Signal, alarm: Alarm | None, now: datetime
    ) -> Alarm | None:
        """Count on the live alarm, or open one (closing a resolved one); the alarm opened."""
        if alarm is not None and alarm.state in ACTIVE:
            alarm.count += signal.occurrences
            if signal.at >= alarm.last_seen_at:
                alarm.last_seen_at = signal.at
                alarm.last_reading_us = to_epoch_us(signal.at)
                alarm.value = signal.value
                alarm.message = signal.message
            return None
        shelf = self._known.shelves.covering(signal.path, now) if signal.path else None
        if shelf is not None:
            await count_suppressed(session, shelf.id, signal.occurrences)
            return None
        if alarm is not None:  # resolved: that episode is over, this is a new one
            alarm.state = "closed"
            alarm.closed_at = now
        opened = opened_alarm(signal, now)
        session.add(opened)
        return opened


async def chart_of(
    session: AsyncSession, characteristic_id: int
) -> tuple[Characteristic, Part | None, spc_service.Series, spc_service.Built] | None:
    """The characteristic's default chart now, or None when there is none to judge (it was
    deleted, or has too few points)."""
    characteristic = await session.get(Characteristic, characteristic_id)
    if characteristic is None:
        return None
    part = await session.get(Part, characteristic.part_id)
    stored = await spc_service.stored_limits(session, characteristic_id)
    series = await spc_service.load_series(session, characteristic_id)
    kind = spc_service.default_chart(characteristic, series, stored)
    try:
        built = spc_service.build(characteristic, series, kind, stored=stored.get(kind))
    except SpcInputError as exc:
        log.debug("no spc chart", characteristic=characteristic_id, reason=str(exc))
        return None
    return characteristic, part, series, built


def fresh_violations(
    built: spc_service.Built, tests: tuple[str, ...], new_positions: set[int]
) -> dict[str, list[Violation]]:
    """The violations of ``tests`` at points that include a new measurement, by test, in
    point order; those at points judged before were raised (or not) then."""
    found: dict[str, list[Violation]] = {}
    for violation in built.violations(tests):
        if not new_positions.isdisjoint(built.members[violation.index - 1]):
            found.setdefault(violation.rule, []).append(violation)
    return found


def opened_alarm(signal: Signal, now: datetime) -> Alarm:
    return Alarm(
        sensor_id=None,
        characteristic_id=signal.characteristic_id,
        subject_path=signal.path,
        rule=signal.rule,
        kind=KIND,
        severity="critical" if signal.test in CRITICAL else "warning",
        state="open",
        message=signal.message,
        value=signal.value,
        score=None,
        count=signal.occurrences,
        opened_at=signal.at,
        last_seen_at=signal.at,
        last_reading_us=to_epoch_us(signal.at),
        last_notified_at=now,
        escalation_level=0,
    )


def describe(test: str, description: str, characteristic: Characteristic, part: Part | None) -> str:
    """ "N2 on 'bore diameter' (part P-100): 9 points in a row above the centre line (…)"."""
    what = description.removeprefix(f"{test}: ")
    of = f" (part {part.part_number})" if part is not None else ""
    message = f"{test} on {characteristic.name!r}{of}: {what}"
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def part_path(part: Part | None) -> str | None:
    """``parts/<part number>`` as a path (lower case, other characters as ``-``), or None."""
    if part is None:
        return None
    segment = re.sub(r"[^a-z0-9_-]+", "-", part.part_number.lower()).strip("-")[:200]
    path = f"parts/{segment}"
    return None if not segment or path_problem(path) else path


def new_measurements(envelopes: list[Envelope]) -> dict[int, set[int]]:
    """Measurement ids by characteristic."""
    found: dict[int, set[int]] = {}
    for envelope in envelopes:
        payload = envelope.payload
        characteristic = int(payload["characteristic_id"])
        found.setdefault(characteristic, set()).add(int(payload["measurement_id"]))
    return found


async def alarms_not_closed(
    session: AsyncSession, characteristic_ids: list[int], dialect: str
) -> dict[tuple[int, str], Alarm]:
    """The characteristics' alarms not closed, by (characteristic, rule); locked in order on
    PostgreSQL."""
    query = (
        select(Alarm)
        .where(Alarm.characteristic_id.in_(characteristic_ids), Alarm.state != "closed")
        .order_by(Alarm.characteristic_id, Alarm.id)
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    found = {}
    for alarm in await session.scalars(query):
        assert alarm.characteristic_id is not None
        found[alarm.characteristic_id, alarm.rule] = alarm
    return found
