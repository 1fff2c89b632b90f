"""HTTP: assets and sensors, addressed by id, listed by path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import Page, decode_cursor, encode_cursor
from shopfloor.core.paths import checked_under
from shopfloor.plant import repository, service
from shopfloor.plant.schemas import (
    AssetCreate,
    AssetOut,
    AssetUpdate,
    SensorCreate,
    SensorOut,
    SensorUpdate,
)

router = APIRouter(tags=["plant"])


def _page(items: list[Any], limit: int, out: type[AssetOut] | type[SensorOut]) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    return {
        "items": [out.model_validate(item) for item in items],
        "next_cursor": encode_cursor(items[-1].path) if more else None,
    }


@router.post("/assets", status_code=201, response_model=AssetOut, summary="Create an asset")
async def create_asset(request: Request, body: AssetCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        asset = await service.create_asset(session, body)
        return AssetOut.model_validate(asset).model_dump(mode="json")

    return await create_once(request.app.state.db, request, body.model_dump(), create)


@router.get(
    "/assets", response_model=Page[AssetOut], summary="List assets, optionally under a path"
)
async def list_assets(
    request: Request,
    under: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = None,
) -> dict[str, Any]:
    after = decode_cursor(cursor, str)
    async with request.app.state.db.read() as session:
        items = await repository.list_assets(session, checked_under(under), after, limit + 1)
    return _page(list(items), limit, AssetOut)


@router.get("/assets/{asset_id}", response_model=AssetOut)
async def get_asset(request: Request, asset_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return AssetOut.model_validate(await service.get_asset(session, asset_id))


@router.patch("/assets/{asset_id}", response_model=AssetOut)
async def update_asset(request: Request, asset_id: int, body: AssetUpdate) -> Any:
    async with request.app.state.db.write() as session:
        return AssetOut.model_validate(await service.update_asset(session, asset_id, body))


@router.delete("/assets/{asset_id}", status_code=204, response_class=Response)
async def delete_asset(request: Request, asset_id: int) -> Response:
    async with request.app.state.db.write() as session:
        await service.delete_asset(session, asset_id)
    return Response(status_code=204)


@router.post("/sensors", status_code=201, response_model=SensorOut, summary="Create a sensor")
async def create_sensor(request: Request, body: SensorCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        sensor = await service.create_sensor(session, body)
        return SensorOut.model_validate(sensor).model_dump(mode="json")

    return await create_once(request.app.state.db, request, body.model_dump(), create)


@router.get(
    "/sensors", response_model=Page[SensorOut], summary="List sensors, optionally under a path"
)
async def list_sensors(
    request: Request,
    under: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = None,
) -> dict[str, Any]:
    after = decode_cursor(cursor, str)
    async with request.app.state.db.read() as session:
        items = await repository.list_sensors(session, checked_under(under), after, limit + 1)
    return _page(list(items), limit, SensorOut)


@router.get("/sensors/{sensor_id}", response_model=SensorOut)
async def get_sensor(request: Request, sensor_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return SensorOut.model_validate(await service.get_sensor(session, sensor_id))


@router.patch("/sensors/{sensor_id}", response_model=SensorOut)
async def update_sensor(request: Request, sensor_id: int, body: SensorUpdate) -> Any:
    async with request.app.state.db.write() as session:
        return SensorOut.model_validate(await service.update_sensor(session, sensor_id, body))


@router.delete("/sensors/{sensor_id}", status_code=204, response_class=Response)
async def delete_sensor(request: Request, sensor_id: int) -> Response:
    state = request.app.state
    async with state.db.write() as session:
        sensor = await service.delete_sensor(session, state.store, sensor_id)
    state.directory.forget(sensor.path)
    return Response(status_code=204)
