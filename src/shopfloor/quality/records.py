"""Quality master data: parts, their characteristics, lots, and the defect catalogue.

Takes a session, never commits. Names that must be unique (part number, lot number, a
characteristic's name within its part, a defect code) are checked first for a clear 409, and
the database's unique constraints settle races (the API turns those into 409 as well).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, ValidationFailed
from shopfloor.core.paths import subtree_bounds
from shopfloor.quality.models import Characteristic, DefectType, Lot, Part
from shopfloor.quality.schemas import (
    CharacteristicCreate,
    CharacteristicUpdate,
    DefectTypeCreate,
    LotCreate,
    PartCreate,
    PartUpdate,
)
from shopfloor.storage.lookup import get_or_404, is_row_id

_INSERTS = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def field_error(field: str, msg: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": [field], "msg": msg, "type": kind}])


def at_or_under(column: Any, path: str) -> ColumnElement[bool]:
    """``column`` is ``path`` or lies beneath it: a range scan, as the plant API does."""
    lo, hi = subtree_bounds(path)
    return or_(column == path, (column >= lo) & (column < hi))


async def _referenced(session: AsyncSession, model: type[Any], row_id: int, field: str) -> Any:
    """The row a body refers to; a reference to nothing is the body's mistake (422)."""
    row = await session.get(model, row_id) if is_row_id(row_id) else None
    if row is None:
        what = field.removesuffix("_id")
        raise field_error(field, f"{what} {row_id} does not exist", "not_found")
    return row


# --- parts ------------------------------------------------------------------------------


async def create_part(session: AsyncSession, data: PartCreate) -> Part:
    if await session.scalar(select(Part.id).where(Part.part_number == data.part_number)):
        raise AlreadyExists(f"a part with the number {data.part_number!r} already exists")
    now = utcnow()
    part = Part(**data.model_dump(), created_at=now, updated_at=now)
    session.add(part)
    await session.flush()
    return part


async def get_part(session: AsyncSession, part_id: int) -> Part:
    return await get_or_404(session, Part, part_id, "part")


async def list_parts(session: AsyncSession, after: int | None, limit: int) -> Sequence[Part]:
    query = select(Part).order_by(Part.id).limit(limit)
    if after is not None:
        query = query.where(Part.id > after)
    return (await session.scalars(query)).all()


async def update_part(session: AsyncSession, part_id: int, data: PartUpdate) -> Part:
    """Name, revision and AQL; a new AQL applies to inspections completed from now on."""
    part = await get_part(session, part_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "aql"):
        if changes.get(field) is not None:
            setattr(part, field, changes[field])
    if "revision" in changes:
        part.revision = changes["revision"]
    part.updated_at = utcnow()
    await session.flush()
    return part


# --- characteristics ---------------------------------------------------------------------


def spec_errors(lsl: float | None, usl: float | None, target: float | None) -> list[dict[str, Any]]:
    """What is wrong with a specification: lsl must be below usl, the target within them."""
    errors = []
    if lsl is not None and usl is not None and lsl >= usl:
        errors.append({"loc": ["usl"], "msg": "usl must be above lsl", "type": "value_error"})
    if target is not None and (
        (lsl is not None and target < lsl) or (usl is not None and target > usl)
    ):
        msg = "target must lie within [lsl, usl]"
        errors.append({"loc": ["target"], "msg": msg, "type": "value_error"})
    return errors


def _check_spec(lsl: float | None, usl: float | None, target: float | None) -> None:
    if errors := spec_errors(lsl, usl, target):
        raise ValidationFailed("the specification limits do not hold together", errors=errors)


async def _name_free(
    session: AsyncSession, part_id: int, name: str, but: int | None = None
) -> None:
    query = select(Characteristic.id).where(
        Characteristic.part_id == part_id, Characteristic.name == name
    )
    found = await session.scalar(query)
    if found is not None and found != but:
        raise AlreadyExists(f"part {part_id} already has a characteristic named {name!r}")


async def create_characteristic(
    session: AsyncSession, data: CharacteristicCreate
) -> Characteristic:
    await _referenced(session, Part, data.part_id, "part_id")
    _check_spec(data.lsl, data.usl, data.target)
    await _name_free(session, data.part_id, data.name)
    now = utcnow()
    characteristic = Characteristic(**data.model_dump(), created_at=now, updated_at=now)
    session.add(characteristic)
    await session.flush()
    return characteristic


async def get_characteristic(session: AsyncSession, characteristic_id: int) -> Characteristic:
    return await get_or_404(session, Characteristic, characteristic_id, "characteristic")


async def list_characteristics(
    session: AsyncSession, part_id: int | None, after: int | None, limit: int
) -> Sequence[Characteristic]:
    query = select(Characteristic).order_by(Characteristic.id).limit(limit)
    if part_id is not None:
        query = query.where(Characteristic.part_id == part_id)
    if after is not None:
        query = query.where(Characteristic.id > after)
    return (await session.scalars(query)).all()


async def update_characteristic(
    session: AsyncSession, characteristic_id: int, data: CharacteristicUpdate
) -> Characteristic:
    """Measurements already taken keep the conformance judged against the limits of their day."""
    characteristic = await get_characteristic(session, characteristic_id)
    changes = data.model_dump(exclude_unset=True)
    spec = {field: getattr(characteristic, field) for field in ("lsl", "usl", "target")}
    spec.update({field: changes[field] for field in spec if field in changes})
    _check_spec(**spec)
    if changes.get("name") is not None:
        await _name_free(session, characteristic.part_id, changes["name"], but=characteristic.id)
        characteristic.name = changes["name"]
    if changes.get("kind") is not None:
        characteristic.kind = changes["kind"]
    if "unit" in changes:
        characteristic.unit = changes["unit"]
    for field, value in spec.items():
        setattr(characteristic, field, value)
    characteristic.updated_at = utcnow()
    await session.flush()
    return characteristic


# --- lots ---------------------------------------------------------------------------------


async def create_lot(session: AsyncSession, data: LotCreate) -> Lot:
    await _referenced(session, Part, data.part_id, "part_id")
    if await session.scalar(select(Lot.id).where(Lot.lot_number == data.lot_number)):
        raise AlreadyExists(f"a lot with the number {data.lot_number!r} already exists")
    now = utcnow()
    lot = Lot(**data.model_dump(), created_at=now, updated_at=now)
    session.add(lot)
    await session.flush()
    return lot


async def get_lot(session: AsyncSession, lot_id: int) -> Lot:
    return await get_or_404(session, Lot, lot_id, "lot")


async def referenced_lot(session: AsyncSession, lot_id: int) -> Lot:
    """The lot a request body names (422 on ``lot_id`` when there is none)."""
    lot: Lot = await _referenced(session, Lot, lot_id, "lot_id")
    return lot


async def list_lots(
    session: AsyncSession,
    *,
    part_id: int | None = None,
    under: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> Sequence[Lot]:
    query = select(Lot).order_by(Lot.id).limit(limit)
    if part_id is not None:
        query = query.where(Lot.part_id == part_id)
    if under is not None:
        query = query.where(at_or_under(Lot.line, under))
    if after is not None:
        query = query.where(Lot.id > after)
    return (await session.scalars(query)).all()


# --- the defect catalogue ---------------------------------------------------------------


async def create_defect_type(session: AsyncSession, data: DefectTypeCreate) -> DefectType:
    if await session.scalar(select(DefectType.id).where(DefectType.code == data.code)):
        raise AlreadyExists(f"the defect type {data.code!r} already exists")
    defect_type = DefectType(
        code=data.code,
        name=data.name or data.code,
        default_severity=data.default_severity,
        created_at=utcnow(),
    )
    session.add(defect_type)
    await session.flush()
    return defect_type


async def list_defect_types(
    session: AsyncSession, after: int | None, limit: int
) -> Sequence[DefectType]:
    query = select(DefectType).order_by(DefectType.id).limit(limit)
    if after is not None:
        query = query.where(DefectType.id > after)
    return (await session.scalars(query)).all()


async def defect_types(session: AsyncSession, codes: Sequence[str]) -> dict[str, DefectType]:
    query = select(DefectType).where(DefectType.code.in_(sorted(set(codes))))
    return {row.code: row for row in await session.scalars(query)}


async def ensure_defect_types(
    session: AsyncSession, severities: Mapping[str, str]
) -> tuple[dict[str, DefectType], list[str]]:
    """The catalogue entries of these codes, adding the codes it does not hold yet (named by
    their code, with the given severity as default). Returns them and the codes added.

    Insert-if-missing, so that two requests adding one new code at once both succeed.
    """
    known = await defect_types(session, list(severities))
    missing = [code for code in severities if code not in known]
    added: list[str] = []
    if missing:
        insert = _INSERTS[session.get_bind().dialect.name]
        now = utcnow()
        rows = [
            {"code": code, "name": code, "default_severity": severities[code], "created_at": now}
            for code in missing
        ]
        statement = (
            insert(DefectType)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(DefectType.code)
        )
        added = sorted((await session.scalars(statement)).all())
        known = await defect_types(session, list(severities))
    return known, added
