"""HTTP: inspections and what they record (CONTRACT "Quality").

An inspection goes ``planned`` → ``in_progress`` (start) → ``completed`` (complete, which
decides the lot's disposition), or → ``cancelled`` from either of the first two. Measurements
and defects are recorded only while it is in progress; any other transition or recording is 409.
A batch of measurements or defects with a bad item is 422 naming each bad item by index, and
nothing of it is stored. Every committed measurement is published as ``quality.measured``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.actor import actor_of
from shopfloor.core.errors import ValidationFailed
from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import Page, encode_cursor, page_of
from shopfloor.quality import events, inspections, recording
from shopfloor.quality.routing import LIMIT, id_filter
from shopfloor.quality.schemas import (
    DefectIn,
    DefectOut,
    DefectsOut,
    InspectionCreate,
    InspectionOut,
    InspectionState,
    MeasurementIn,
    MeasurementOut,
    MeasurementsOut,
    parse_items,
)
from shopfloor.storage.lookup import id_cursor

router = APIRouter()
MEASUREMENTS_BODY = Body(
    description="A JSON list of {characteristic_id, value, unit_serial?, subgroup?, "
    "measured_at?}; the characteristics must be the lot's part's",
    examples=[[{"characteristic_id": 1, "value": 10.02, "unit_serial": "U-001", "subgroup": 1}]],
)
DEFECTS_BODY = Body(
    description="A JSON list of {defect_type, severity?, count?, location?, note?, "
    "unit_serial?}; an unknown defect_type is added to the catalogue",
    examples=[[{"defect_type": "crack", "severity": "critical", "location": "weld seam"}]],
)


# --- inspections -------------------------------------------------------------------------


@router.post("/inspections", status_code=201, response_model=InspectionOut, tags=["inspections"])
async def create_inspection(request: Request, body: InspectionCreate) -> Response:
    """A ``planned`` inspection of a lot, of ``sample_size`` units (at most the lot's)."""
    actor = actor_of(request)

    async def create(session: AsyncSession) -> dict[str, Any]:
        document = await inspections.create_inspection(session, body, actor)
        return InspectionOut.model_validate(document).model_dump(mode="json")

    return await create_once(request.app.state.db, request, body.model_dump(), create)


@router.get("/inspections", response_model=Page[InspectionOut], tags=["inspections"])
async def list_inspections(
    request: Request,
    lot_id: int | None = id_filter("Only the inspections of this lot"),
    state: list[InspectionState] | None = Query(None, description="repeat for several"),
    limit: int = LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Newest first."""
    async with request.app.state.db.read() as session:
        items = await inspections.list_inspections(
            session,
            lot_id=lot_id,
            states=state or (),
            before_id=id_cursor(cursor),
            limit=limit + 1,
        )
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}


@router.get("/inspections/{inspection_id}", response_model=InspectionOut, tags=["inspections"])
async def get_inspection(request: Request, inspection_id: int) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        return await inspections.get_inspection(session, inspection_id)


@router.post(
    "/inspections/{inspection_id}/start", response_model=InspectionOut, tags=["inspections"]
)
async def start_inspection(request: Request, inspection_id: int) -> dict[str, Any]:
    """``planned`` → ``in_progress``; the caller becomes its inspector. 409 in any other state."""
    async with request.app.state.db.write() as session:
        return await inspections.start(session, inspection_id, actor_of(request))


@router.post(
    "/inspections/{inspection_id}/complete", response_model=InspectionOut, tags=["inspections"]
)
async def complete_inspection(request: Request, inspection_id: int) -> dict[str, Any]:
    """``in_progress`` → ``completed`` with the lot's ``disposition`` (accept, reject, rework or
    hold), the ``reasons`` for it (the first states the Z1.4 plan) and a ``quality_score``
    (0-100). 409 in any other state."""
    async with request.app.state.db.write() as session:
        return await inspections.complete(session, inspection_id)


@router.post(
    "/inspections/{inspection_id}/cancel", response_model=InspectionOut, tags=["inspections"]
)
async def cancel_inspection(request: Request, inspection_id: int) -> dict[str, Any]:
    """``planned`` or ``in_progress`` → ``cancelled``; 409 once completed or cancelled."""
    async with request.app.state.db.write() as session:
        return await inspections.cancel(session, inspection_id)


def _items(document: list[Any], model: type[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    items, errors = parse_items(document, model)
    if not items:  # not a list of items at all: nothing to look up
        raise ValidationFailed(errors[0]["msg"], errors=errors)
    return items, errors


@router.post(
    "/inspections/{inspection_id}/measurements",
    status_code=201,
    response_model=MeasurementsOut,
    tags=["inspections"],
)
async def add_measurements(
    request: Request, inspection_id: int, body: list[Any] = MEASUREMENTS_BODY
) -> Response:
    """Record measurements while the inspection is in progress (else 409), all or none.
    Each is published as ``quality.measured`` once committed."""
    items, errors = _items(body, MeasurementIn)
    pending: list[events.PendingEvent] = []

    async def create(session: AsyncSession) -> dict[str, Any]:
        rows, recorded = await recording.add_measurements(session, inspection_id, items, errors)
        pending[:] = recorded
        out = [MeasurementOut.model_validate(row).model_dump(mode="json") for row in rows]
        return {"accepted": len(out), "items": out}

    response = await create_once(request.app.state.db, request, body, create)
    if "idempotent-replayed" not in response.headers:
        events.offer(request.app.state.pipeline.relay, pending)
    return response


@router.get(
    "/inspections/{inspection_id}/measurements",
    response_model=Page[MeasurementOut],
    tags=["inspections"],
)
async def list_measurements(
    request: Request, inspection_id: int, limit: int = LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = await recording.list_measurements(
            session, inspection_id, id_cursor(cursor), limit + 1
        )
    return page_of(list(items), limit, MeasurementOut)


@router.post(
    "/inspections/{inspection_id}/defects",
    status_code=201,
    response_model=DefectsOut,
    tags=["inspections"],
)
async def add_defects(
    request: Request, inspection_id: int, body: list[Any] = DEFECTS_BODY
) -> Response:
    """Record defects while the inspection is in progress (else 409), all or none. A defect
    type the catalogue does not hold is added to it (``new_defect_types``)."""
    items, errors = _items(body, DefectIn)

    async def create(session: AsyncSession) -> dict[str, Any]:
        rows, added = await recording.add_defects(session, inspection_id, items, errors)
        out = [DefectOut.model_validate(row).model_dump(mode="json") for row in rows]
        return {"accepted": len(out), "items": out, "new_defect_types": added}

    return await create_once(request.app.state.db, request, body, create)


@router.get(
    "/inspections/{inspection_id}/defects",
    response_model=Page[DefectOut],
    tags=["inspections"],
)
async def list_defects(
    request: Request, inspection_id: int, limit: int = LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = await recording.list_defects(session, inspection_id, id_cursor(cursor), limit + 1)
    return page_of(list(items), limit, DefectOut)
