"""Lots on the dashboard (``/quality/lots``): the list with each lot's part, line and status,
a lot's page with its inspections, and planning an inspection of it (inspectors).

Planning goes through ``inspections.create_inspection`` (and ``start`` when the inspector
starts at once), in one unit of work, as the API's ``POST /inspections`` and ``…/start`` do.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import ShopfloorError, ValidationFailed
from shopfloor.core.paths import path_problem
from shopfloor.quality import inspections, records
from shopfloor.quality.models import INSPECTION_KINDS
from shopfloor.quality.sampling import plan_for
from shopfloor.quality.schemas import InspectionCreate
from shopfloor.storage.lookup import MAX_ID
from shopfloor.web.deps import requires
from shopfloor.web.flash import flash
from shopfloor.web.quality import lists
from shopfloor.web.quality.entry import Entry, friendly
from shopfloor.web.quality.states import KINDS, LOT_FILTERS
from shopfloor.web.templating import render

router = APIRouter()
BEFORE = Query(None, ge=1, le=MAX_ID)
DEFAULT_KIND = "in_process"


@router.get("/quality/lots", name="quality_lots")
async def lots_page(
    request: Request,
    status: str = Query("", max_length=20),
    under: str = Query("", max_length=255),
    before: int | None = BEFORE,
) -> Response:
    problem = path_problem(under) if under else None
    async with request.app.state.db.read() as session:
        listing = await lists.lots(
            session,
            status=status if status in LOT_FILTERS else None,
            under=under if under and problem is None else None,
            before=before,
        )
        lines = await lists.line_paths(session)
    context = {
        "listing": listing,
        "status": status if status in LOT_FILTERS else "",
        "under": under,
        "under_problem": problem,
        "lines": lines,
        "lot_filters": LOT_FILTERS,
    }
    return render(request, "quality/lots.html", context)


async def _lot_page(
    request: Request, lot_id: int, form: Entry | None = None, status_code: int = 200
) -> Response:
    async with request.app.state.db.read() as session:
        lot = await records.get_lot(session, lot_id)
        part = await records.get_part(session, lot.part_id)
        characteristics = await lists.characteristic_rows(session, part.id)
        listing = await lists.inspection_listing(session, lot_id=lot_id, limit=200)
    plan = plan_for(lot.quantity, part.aql)
    suggested = min(plan.sample_size, lot.quantity)
    entry = form or Entry(values={"kind": DEFAULT_KIND, "sample_size": str(suggested)})
    context = {
        "lot": lot,
        "part": part,
        "characteristics": characteristics,
        "inspections": listing.rows,
        "plan": plan,
        "entry": entry,
        "kinds": {kind: KINDS[kind] for kind in INSPECTION_KINDS},
    }
    return render(request, "quality/lot.html", context, status_code)


@router.get("/quality/lots/{lot_id}", name="quality_lot")
async def lot_page(request: Request, lot_id: int) -> Response:
    return await _lot_page(request, lot_id)


@router.post("/quality/lots/{lot_id}/inspections", name="quality_lot_inspect")
async def plan_inspection(
    request: Request,
    lot_id: int,
    principal: Principal = Depends(requires(Permission.INSPECT)),
) -> Response:
    """Plan an inspection of the lot, and start it at once unless only planning was asked."""
    form = await request.form()
    entry = Entry(
        values={name: str(form.get(name, "")).strip() for name in ("kind", "sample_size")}
    )
    start_now = form.get("then") != "plan"
    try:
        data = InspectionCreate(
            lot_id=lot_id, kind=entry.value("kind"), sample_size=entry.value("sample_size")
        )
    except ValidationError as exc:
        for error in exc.errors():
            entry.errors.setdefault(str(error["loc"][0]), friendly(error))
        return await _lot_page(request, lot_id, entry, 422)
    try:
        async with request.app.state.db.write() as session:
            document = await inspections.create_inspection(session, data, principal.actor)
            if start_now:
                await inspections.start(session, document["id"], principal.actor)
    except ValidationFailed as exc:
        for error in exc.errors or []:
            loc = error.get("loc") or ["kind"]
            entry.errors.setdefault(str(loc[-1]), friendly(error))
        entry.message = None if entry.errors else exc.detail
        return await _lot_page(request, lot_id, entry, 422)
    except ShopfloorError as exc:
        entry.message = exc.detail
        return await _lot_page(request, lot_id, entry, exc.status)
    started = "started" if start_now else "planned"
    flash(
        request,
        f"Inspection {document['id']} of lot {document['lot_number']} is {started}.",
        "success",
    )
    return RedirectResponse(f"/quality/inspections/{document['id']}", status_code=303)
