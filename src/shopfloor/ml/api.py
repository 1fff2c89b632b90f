"""HTTP: the registered models, their versions, and moving an alias (promote, roll back)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from shopfloor.core.clock import utcnow
from shopfloor.ml.health import ModelCache, asset_health
from shopfloor.ml.health_store import health_json, stored_health
from shopfloor.ml.registry import Registry, VersionInfo
from shopfloor.plant import service as plant_service

router = APIRouter(tags=["models"])


class AliasMove(BaseModel):
    alias: Literal["champion", "challenger"] = "champion"
    version: int | None = Field(
        default=None, ge=1, description="The version to point at; omitted: roll back."
    )


def registry_of(request: Request) -> Registry:
    """The app's registry, opened on first use (MLflow is slow to import)."""
    state = request.app.state
    found = getattr(state, "registry", None)
    if found is None:
        settings = state.settings
        found = Registry.from_settings(settings.data_dir, settings.mlflow_url)
        state.registry = found
    return found


def version_json(info: VersionInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "kind": info.kind,
        "aliases": info.aliases,
        "created_at": dt.datetime.fromtimestamp(info.created_at, tz=dt.UTC).isoformat(),
        "params": info.params,
        "metrics": info.metrics,
        "data_fingerprint": info.tags.get("shopfloor.data_fingerprint"),
        "tags": info.tags,
        "run_id": info.run_id,
        "description": info.description,
    }


@router.get("/models", summary="Registered models with their aliases")
async def list_models(request: Request) -> dict[str, Any]:
    def read() -> list[dict[str, Any]]:
        registry = registry_of(request)
        items = []
        for name in registry.names():
            versions = registry.versions(name)
            items.append(
                {
                    "name": name,
                    "kind": versions[0].kind,
                    "latest_version": versions[0].version,
                    "versions": len(versions),
                    "aliases": {a: v.version for v in versions for a in v.aliases},
                }
            )
        return items

    return {"items": await asyncio.to_thread(read), "next_cursor": None}


@router.get("/models/{name}/versions", summary="A model's versions, newest first")
async def list_versions(request: Request, name: str) -> dict[str, Any]:
    versions = await asyncio.to_thread(lambda: registry_of(request).versions(name))
    return {"items": [version_json(v) for v in versions], "next_cursor": None}


@router.post(
    "/models/{name}/aliases",
    summary="Point an alias at a version (promote), or back where it was (roll back)",
)
async def move_alias(request: Request, name: str, body: AliasMove) -> dict[str, Any]:
    def move() -> VersionInfo:
        registry = registry_of(request)
        if body.version is None:
            return registry.rollback(name, body.alias)
        return registry.promote(name, body.version, body.alias)

    return version_json(await asyncio.to_thread(move))


@router.get(
    "/assets/{asset_id}/health",
    summary="An asset's failure risk and remaining useful life, from its models and readings",
    description="As the pipeline last worked it out from the asset's readings; with "
    "`fresh=true`, or when it never did, worked out now.",
)
async def get_asset_health(request: Request, asset_id: int, fresh: bool = False) -> dict[str, Any]:
    state = request.app.state
    async with state.db.read() as session:
        asset = await plant_service.get_asset(session, asset_id)
        health = None if fresh else await stored_health(session, asset_id)
        if health is None:
            cache = getattr(state, "model_cache", None)
            if cache is None:
                settings = state.settings
                cache = state.model_cache = ModelCache(
                    settings.model_serving_url, settings.model_serving_timeout_s
                )
            registry = await asyncio.to_thread(registry_of, request)
            health = await asset_health(session, state.store, registry, cache, asset)
            health["computed_at"] = utcnow()
    return health_json({"asset": asset.id, "path": asset.path} | health)
