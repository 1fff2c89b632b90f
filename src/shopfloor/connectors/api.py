"""HTTP: the connectors, where they run and how they do; admins and maintenance engineers
define and change the ones kept in the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.connectors.base import ConnectorState
from shopfloor.connectors.config import MqttSettings, credentials_apart
from shopfloor.connectors.models import ConnectorConfig, ConnectorStatusRow
from shopfloor.connectors.runner import LEASE_S, AnySettings, ConnectorRunner, state_document
from shopfloor.connectors.schemas import (
    HIDDEN,
    ConnectorIn,
    ConnectorOut,
    ConnectorPatch,
    hide_secrets,
)
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import Conflict, NotFound
from shopfloor.core.idempotency import create_once

router = APIRouter(tags=["connectors"])


def _runner(request: Request) -> ConnectorRunner | None:
    return getattr(request.app.state, "connectors", None)


def _settings_document(settings: AnySettings) -> dict[str, Any]:
    document = settings.model_dump(mode="json", exclude={"kind", "name", "enabled"})
    return hide_secrets(document)


def _status(
    name: str, runner: ConnectorRunner | None, rows: dict[str, ConnectorStatusRow]
) -> dict[str, Any]:
    if runner is not None and name in runner.running:
        state: ConnectorState = runner.running[name].connector.state
        return {"state": "running", "process": runner.process, **_epochs(state_document(state))}
    row = rows.get(name)
    if row is None:
        return {"state": "stopped"}
    fresh = row.reported_at >= utcnow() - dt.timedelta(seconds=LEASE_S)
    return {
        "state": "running" if fresh else "stale",
        "process": row.process,
        "reported_at": row.reported_at,
        **_epochs(row.state),
    }


def _epochs(document: dict[str, Any]) -> dict[str, Any]:
    """State documents keep epoch seconds; the API speaks RFC 3339."""
    out = dict(document)
    for key in ("last_message_at", "last_error_at"):
        if out.get(key) is not None:
            out[key] = dt.datetime.fromtimestamp(out[key], tz=dt.UTC)
    return out


async def _status_rows(session: AsyncSession) -> dict[str, ConnectorStatusRow]:
    return {row.name: row for row in await session.scalars(select(ConnectorStatusRow))}


def _stored_out(
    row: ConnectorConfig, runner: ConnectorRunner | None, rows: dict[str, ConnectorStatusRow]
) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind,
        "origin": "api",
        "enabled": row.enabled,
        "settings": hide_secrets(row.settings),
        "status": _status(row.name, runner, rows),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _fixed(runner: ConnectorRunner | None) -> dict[str, tuple[AnySettings, str]]:
    return {s.name: (s, origin) for s, origin in runner.fixed} if runner is not None else {}


@router.get("/connectors", summary="Connectors: definition, where they run, their state")
async def list_connectors(request: Request) -> dict[str, Any]:
    runner = _runner(request)
    async with request.app.state.db.read() as session:
        stored = list(await session.scalars(select(ConnectorConfig).order_by(ConnectorConfig.name)))
        rows = await _status_rows(session)
    fixed = _fixed(runner)
    items: dict[str, dict[str, Any]] = {}
    for name, (settings, origin) in fixed.items():
        items[name] = {
            "name": name,
            "kind": settings.kind,
            "origin": origin,
            "enabled": True,
            "settings": _settings_document(settings),
            "status": _status(name, runner, rows),
        }
    for row in stored:
        items.setdefault(row.name, _stored_out(row, runner, rows))
    for name, row in rows.items():
        items.setdefault(
            name,
            {
                "name": name,
                "kind": row.kind,
                "origin": "elsewhere",
                "enabled": True,
                "settings": None,
                "status": _status(name, runner, rows),
            },
        )
    ordered = [ConnectorOut.model_validate(items[name]) for name in sorted(items)]
    return {"items": [item.model_dump(mode="json") for item in ordered], "next_cursor": None}


@router.get("/connectors/{name}", response_model=ConnectorOut, summary="One connector")
async def get_connector(request: Request, name: str) -> Any:
    listed = (await list_connectors(request))["items"]
    for item in listed:
        if item["name"] == name:
            return item
    raise NotFound(f"no connector named {name!r}")


def _stored_settings(body: Any) -> tuple[str, bool, dict[str, Any]]:
    settings = body
    if isinstance(settings, MqttSettings):
        settings = credentials_apart(settings)
    document = settings.model_dump(mode="json", exclude={"kind", "name", "enabled"})
    return settings.kind, body.enabled, document


async def _name_free(request: Request, session: AsyncSession, name: str) -> None:
    if name in _fixed(_runner(request)):
        raise Conflict(f"connector {name!r} is defined in this process's file or settings")
    if await session.scalar(select(ConnectorConfig.id).where(ConnectorConfig.name == name)):
        raise Conflict(f"a connector named {name!r} exists")


@router.post(
    "/connectors", status_code=201, response_model=ConnectorOut, summary="Define a connector"
)
async def create_connector(request: Request, body: ConnectorIn) -> Response:
    runner = _runner(request)

    async def create(session: AsyncSession) -> dict[str, Any]:
        await _name_free(request, session, body.name)
        kind, enabled, document = _stored_settings(body)
        now = utcnow()
        row = ConnectorConfig(
            name=body.name,
            kind=kind,
            enabled=enabled,
            settings=document,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        out = ConnectorOut.model_validate(_stored_out(row, None, {}))
        return out.model_dump(mode="json")

    response = await create_once(
        request.app.state.db,
        request,
        body.model_dump(mode="json"),
        create,
        taken=f"a connector named {body.name!r} exists",
    )
    if runner is not None:
        runner.reload_soon()
    return response


async def _stored_row(session: AsyncSession, request: Request, name: str) -> ConnectorConfig:
    row = await session.scalar(select(ConnectorConfig).where(ConnectorConfig.name == name))
    if row is None:
        if name in _fixed(_runner(request)):
            raise Conflict(
                f"connector {name!r} is defined in this process's file or settings: change it there"
            )
        raise NotFound(f"no connector named {name!r} is defined through the API")
    return row


@router.put("/connectors/{name}", response_model=ConnectorOut, summary="Replace a connector")
async def replace_connector(request: Request, name: str, body: ConnectorIn) -> Any:
    if body.name != name:
        raise Conflict(f"the body names {body.name!r}, the path {name!r}: renaming is not allowed")
    runner = _runner(request)
    async with request.app.state.db.write() as session:
        row = await _stored_row(session, request, name)
        kind, enabled, document = _stored_settings(body)
        if document.get("password") == HIDDEN:  # sent back as shown: keep the stored one
            document["password"] = row.settings.get("password")
        row.kind, row.enabled, row.settings = kind, enabled, document
        row.updated_at = utcnow()
        await session.flush()
        out = _stored_out(row, runner, await _status_rows(session))
    if runner is not None:
        runner.reload_soon()
    return out


@router.patch("/connectors/{name}", response_model=ConnectorOut, summary="Enable or disable")
async def patch_connector(request: Request, name: str, body: ConnectorPatch) -> Any:
    runner = _runner(request)
    async with request.app.state.db.write() as session:
        row = await _stored_row(session, request, name)
        row.enabled = body.enabled
        row.updated_at = utcnow()
        await session.flush()
        out = _stored_out(row, runner, await _status_rows(session))
    if runner is not None:
        runner.reload_soon()
    return out


@router.delete("/connectors/{name}", status_code=204, response_class=Response)
async def delete_connector(request: Request, name: str) -> Response:
    runner = _runner(request)
    async with request.app.state.db.write() as session:
        await session.delete(await _stored_row(session, request, name))
    if runner is not None:
        runner.reload_soon()
    return Response(status_code=204)
