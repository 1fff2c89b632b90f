"""HTTP: parts, characteristics, lots and the defect catalogue (CONTRACT "Quality")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.errors import AlreadyExists
from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import Page, page_of
from shopfloor.core.paths import checked_under
from shopfloor.quality import records
from shopfloor.quality.routing import LIMIT, id_filter
from shopfloor.quality.schemas import (
    CharacteristicCreate,
    CharacteristicOut,
    CharacteristicUpdate,
    DefectTypeCreate,
    DefectTypeOut,
    LotCreate,
    LotOut,
    PartCreate,
    PartOut,
    PartUpdate,
)
from shopfloor.storage.lookup import id_cursor

router = APIRouter()


# --- parts ------------------------------------------------------------------------------


@router.post("/parts", status_code=201, response_model=PartOut, tags=["quality records"])
async def create_part(request: Request, body: PartCreate) -> Response:
    """A part; ``aql`` (default 1.0) is the Z1.4 AQL its lots are judged by."""

    async def create(session: AsyncSession) -> dict[str, Any]:
        part = await records.create_part(session, body)
        return PartOut.model_validate(part).model_dump(mode="json")

    taken = f"a part with the number {body.part_number!r} already exists"
    return await create_once(request.app.state.db, request, body.model_dump(), create, taken=taken)


@router.get("/parts", response_model=Page[PartOut], tags=["quality records"])
async def list_parts(
    request: Request, limit: int = LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = list(await records.list_parts(session, id_cursor(cursor), limit + 1))
    return page_of(items, limit, PartOut)


@router.get("/parts/{part_id}", response_model=PartOut, tags=["quality records"])
async def get_part(request: Request, part_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return PartOut.model_validate(await records.get_part(session, part_id))


@router.patch("/parts/{part_id}", response_model=PartOut, tags=["quality records"])
async def update_part(request: Request, part_id: int, body: PartUpdate) -> Any:
    """Name, revision, AQL; a new AQL judges the inspections completed from now on."""
    async with request.app.state.db.write() as session:
        return PartOut.model_validate(await records.update_part(session, part_id, body))


# --- characteristics ---------------------------------------------------------------------


@router.post(
    "/characteristics",
    status_code=201,
    response_model=CharacteristicOut,
    tags=["quality records"],
)
async def create_characteristic(request: Request, body: CharacteristicCreate) -> Response:
    """A characteristic of a part; its name is unique within the part, lsl < usl, and the
    target lies within [lsl, usl]."""

    async def create(session: AsyncSession) -> dict[str, Any]:
        characteristic = await records.create_characteristic(session, body)
        return CharacteristicOut.model_validate(characteristic).model_dump(mode="json")

    taken = f"part {body.part_id} already has a characteristic named {body.name!r}"
    return await create_once(request.app.state.db, request, body.model_dump(), create, taken=taken)


@router.get("/characteristics", response_model=Page[CharacteristicOut], tags=["quality records"])
async def list_characteristics(
    request: Request,
    part_id: int | None = id_filter("Only the characteristics of this part"),
    limit: int = LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = await records.list_characteristics(session, part_id, id_cursor(cursor), limit + 1)
    return page_of(list(items), limit, CharacteristicOut)


@router.get(
    "/characteristics/{characteristic_id}",
    response_model=CharacteristicOut,
    tags=["quality records"],
)
async def get_characteristic(request: Request, characteristic_id: int) -> Any:
    async with request.app.state.db.read() as session:
        characteristic = await records.get_characteristic(session, characteristic_id)
        return CharacteristicOut.model_validate(characteristic)


@router.patch(
    "/characteristics/{characteristic_id}",
    response_model=CharacteristicOut,
    tags=["quality records"],
)
async def update_characteristic(
    request: Request, characteristic_id: int, body: CharacteristicUpdate
) -> Any:
    """Change fields; ``null`` clears a limit or the target. Measurements already taken keep
    the conformance judged against the limits in force when they were taken."""
    try:
        async with request.app.state.db.write() as session:
            characteristic = await records.update_characteristic(session, characteristic_id, body)
            return CharacteristicOut.model_validate(characteristic)
    except IntegrityError:  # lost a race for the name
        raise AlreadyExists(f"a characteristic named {body.name!r} already exists") from None


# --- lots ---------------------------------------------------------------------------------


@router.post("/lots", status_code=201, response_model=LotOut, tags=["quality records"])
async def create_lot(request: Request, body: LotCreate) -> Response:
    """A lot of a part; ``line`` is where it was made (an ISA-95 path; the path's format is
    checked, not that an asset exists there)."""

    async def create(session: AsyncSession) -> dict[str, Any]:
        lot = await records.create_lot(session, body)
        return LotOut.model_validate(lot).model_dump(mode="json")

    taken = f"a lot with the number {body.lot_number!r} already exists"
    return await create_once(request.app.state.db, request, body.model_dump(), create, taken=taken)


@router.get("/lots", response_model=Page[LotOut], tags=["quality records"])
async def list_lots(
    request: Request,
    part_id: int | None = id_filter("Only the lots of this part"),
    under: str | None = Query(None, description="Only lots made at or under this path"),
    limit: int = LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = await records.list_lots(
            session,
            part_id=part_id,
            under=checked_under(under),
            after=id_cursor(cursor),
            limit=limit + 1,
        )
    return page_of(list(items), limit, LotOut)


@router.get("/lots/{lot_id}", response_model=LotOut, tags=["quality records"])
async def get_lot(request: Request, lot_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return LotOut.model_validate(await records.get_lot(session, lot_id))


# --- the defect catalogue ---------------------------------------------------------------


@router.post(
    "/defect-types", status_code=201, response_model=DefectTypeOut, tags=["quality records"]
)
async def create_defect_type(request: Request, body: DefectTypeCreate) -> Response:
    """A defect type of the catalogue. Recording a defect with a code the catalogue does not
    hold adds that code too (named by its code, with the severity it was recorded with)."""

    async def create(session: AsyncSession) -> dict[str, Any]:
        defect_type = await records.create_defect_type(session, body)
        return DefectTypeOut.model_validate(defect_type).model_dump(mode="json")

    taken = f"the defect type {body.code!r} already exists"
    return await create_once(request.app.state.db, request, body.model_dump(), create, taken=taken)


@router.get("/defect-types", response_model=Page[DefectTypeOut], tags=["quality records"])
async def list_defect_types(
    request: Request, limit: int = LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = await records.list_defect_types(session, id_cursor(cursor), limit + 1)
    return page_of(list(items), limit, DefectTypeOut)
