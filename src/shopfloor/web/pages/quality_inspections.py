"""Inspections on the dashboard (``/quality/inspections``): the list, an inspection's page,
and what inspectors do there: start, record measurements and defects, complete, cancel.

Every action goes through the inspection services the API uses, in one unit of work per
request (audited as the signed-in user), and answers with the inspection's panel: swapped in
place by htmx, or as the whole page without it. A refusal (a field that is not valid, an
inspection no longer in a state that allows the action) is shown in the panel, next to the
field it is about where there is one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import Conflict, ValidationFailed
from shopfloor.quality import events, inspections, recording
from shopfloor.quality.models import CANCELLED, COMPLETED, IN_PROGRESS, PLANNED
from shopfloor.quality.schemas import DefectIn, MeasurementIn, parse_items
from shopfloor.storage.lookup import MAX_ID
from shopfloor.web.deps import requires
from shopfloor.web.errors import is_htmx
from shopfloor.web.quality import lists
from shopfloor.web.quality.entry import (
    Entry,
    defect_fields,
    measurement_fields,
    next_serial,
    place_errors,
    read_defect,
    read_measurements,
)
from shopfloor.web.quality.panel import characteristic_ids, load_panel
from shopfloor.web.templating import render

router = APIRouter()
OPEN = "open"
STATE_FILTERS = {
    OPEN: "Open",
    PLANNED: "Planned",
    IN_PROGRESS: "In progress",
    COMPLETED: "Completed",
    CANCELLED: "Cancelled",
}
BEFORE = Query(None, ge=1, le=MAX_ID)
Action = Callable[[AsyncSession], Awaitable[Any]]


@router.get("/quality/inspections", name="quality_inspections")
async def inspections_page(
    request: Request, state: str = Query("", max_length=20), before: int | None = BEFORE
) -> Response:
    states = {OPEN: (PLANNED, IN_PROGRESS)}.get(state) or (
        (state,) if state in STATE_FILTERS else ()
    )
    async with request.app.state.db.read() as session:
        listing = await lists.inspection_listing(session, states=states, before=before)
    context = {
        "listing": listing,
        "state": state if states else "",
        "state_filters": STATE_FILTERS,
    }
    return render(request, "quality/inspections.html", context)


async def _panel_response(
    request: Request,
    inspection_id: int,
    *,
    measurement_entry: Entry | None = None,
    defect_entry: Entry | None = None,
    problem: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    async with request.app.state.db.read() as session:
        panel = await load_panel(session, inspection_id, measurement_entry, defect_entry)
    panel.problem, panel.done = problem, done
    if is_htmx(request):
        # Errors are shown in the panel itself: htmx swaps only successful answers.
        return render(request, "quality/inspection_panel.html", {"panel": panel}, page=False)
    return render(request, "quality/inspection.html", {"panel": panel}, status_code)


@router.get("/quality/inspections/{inspection_id}", name="quality_inspection")
async def inspection_page(request: Request, inspection_id: int) -> Response:
    return await _panel_response(request, inspection_id)


async def _transition(request: Request, inspection_id: int, action: Action, done: str) -> Response:
    try:
        async with request.app.state.db.write() as session:
            await action(session)
    except Conflict as exc:
        return await _panel_response(request, inspection_id, problem=exc.detail, status_code=409)
    return await _panel_response(request, inspection_id, done=done)


@router.post("/quality/inspections/{inspection_id}/start", name="quality_inspection_start")
async def start(
    request: Request,
    inspection_id: int,
    principal: Principal = Depends(requires(Permission.INSPECT)),
) -> Response:
    async def action(session: AsyncSession) -> Any:
        return await inspections.start(session, inspection_id, principal.actor)

    return await _transition(request, inspection_id, action, "Inspection started.")


@router.post("/quality/inspections/{inspection_id}/complete", name="quality_inspection_complete")
async def complete(
    request: Request,
    inspection_id: int,
    principal: Principal = Depends(requires(Permission.INSPECT)),
) -> Response:
    async def action(session: AsyncSession) -> Any:
        return await inspections.complete(session, inspection_id)

    return await _transition(request, inspection_id, action, "Inspection completed.")


@router.post("/quality/inspections/{inspection_id}/cancel", name="quality_inspection_cancel")
async def cancel(
    request: Request,
    inspection_id: int,
    principal: Principal = Depends(requires(Permission.INSPECT)),
) -> Response:
    async def action(session: AsyncSession) -> Any:
        return await inspections.cancel(session, inspection_id)

    return await _transition(request, inspection_id, action, "Inspection cancelled.")


@router.post(
    "/quality/inspections/{inspection_id}/measurements", name="quality_inspection_measurements"
)
async def add_measurements(
    request: Request,
    inspection_id: int,
    principal: Principal = Depends(requires(Permission.INSPECT)),
) -> Response:
    """One unit's values, as ``POST /api/v1/inspections/{id}/measurements`` records them."""
    async with request.app.state.db.read() as session:
        measurable = await characteristic_ids(session, inspection_id)
    batch = read_measurements(await request.form(), measurable)
    entry = batch.entry
    if entry.failed:
        return await _panel_response(
            request, inspection_id, measurement_entry=entry, status_code=422
        )
    items, errors = parse_items(batch.items, MeasurementIn)
    try:
        async with request.app.state.db.write() as session:
            rows, pending = await recording.add_measurements(session, inspection_id, items, errors)
    except ValidationFailed as exc:
        place_errors(entry, exc.errors or [], measurement_fields(batch.fields))
        entry.message = entry.message or "Nothing was recorded: correct the fields marked."
        return await _panel_response(
            request, inspection_id, measurement_entry=entry, status_code=422
        )
    except Conflict as exc:
        return await _panel_response(
            request, inspection_id, measurement_entry=entry, problem=exc.detail, status_code=409
        )
    events.offer(request.app.state.pipeline.relay, pending)
    serial = entry.value("unit_serial")
    fresh = Entry(
        values={
            "unit_serial": next_serial(serial) if serial else "",
            "subgroup": entry.value("subgroup"),
        },
        recorded=_recorded_text(len(rows), serial),
    )
    return await _panel_response(request, inspection_id, measurement_entry=fresh)


def _recorded_text(count: int, serial: str) -> str:
    what = "1 measurement" if count == 1 else f"{count} measurements"
    return f"Recorded {what}" + (f" of unit {serial}." if serial else ".")


@router.post("/quality/inspections/{inspection_id}/defects", name="quality_inspection_defects")
async def add_defect(
    request: Request,
    inspection_id: int,
    principal: Principal = Depends(requires(Permission.INSPECT)),
) -> Response:
    """One defect, as ``POST /api/v1/inspections/{id}/defects`` records it."""
    entry, item = read_defect(await request.form())
    if entry.failed:
        return await _panel_response(request, inspection_id, defect_entry=entry, status_code=422)
    items, errors = parse_items([item], DefectIn)
    try:
        async with request.app.state.db.write() as session:
            _, added = await recording.add_defects(session, inspection_id, items, errors)
    except ValidationFailed as exc:
        place_errors(entry, exc.errors or [], defect_fields())
        entry.message = entry.message or "Nothing was recorded: correct the fields marked."
        return await _panel_response(request, inspection_id, defect_entry=entry, status_code=422)
    except Conflict as exc:
        return await _panel_response(
            request, inspection_id, defect_entry=entry, problem=exc.detail, status_code=409
        )
    note = f" {item['defect_type']!r} is new in the defect catalogue." if added else ""
    fresh = Entry(recorded=f"Recorded the defect {item['defect_type']}.{note}")
    return await _panel_response(request, inspection_id, defect_entry=fresh)
