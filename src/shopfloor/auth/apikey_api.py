"""HTTP: API keys for machines and integrations (send one as ``X-API-Key``).

``POST /api-keys`` answers with the key itself, once; afterwards only its public prefix shows.
An ``Idempotency-Key`` replays that first response, key included, as the header promises: a
client whose connection dropped must be able to learn the key it created. The stored response
sits in the database beside the key's digest, readable by whoever can read that table anyway.

Who may call these is decided centrally (``auth.policy``: administrators), not here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from shopfloor.auth import apikeys
from shopfloor.auth.apikey_schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from shopfloor.core.actor import ANONYMOUS
from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import Page, page_of
from shopfloor.storage.lookup import id_cursor

router = APIRouter(tags=["API keys"])


def _creator(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.actor if principal is not None else ANONYMOUS


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key; the response is the only time the key is shown",
)
async def create_api_key(request: Request, body: ApiKeyCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        key, raw_key = await apikeys.create_api_key(
            session,
            name=body.name,
            scopes=body.scopes,
            created_by=_creator(request),
            expires_at=body.expires_at,
        )
        shown = ApiKeyOut.model_validate(key).model_dump()
        return ApiKeyCreated(**shown, key=raw_key).model_dump(mode="json")

    taken = f"an API key is already named {body.name!r}"
    payload = body.model_dump(mode="json")
    return await create_once(request.app.state.db, request, payload, create, taken=taken)


@router.get("/api-keys", response_model=Page[ApiKeyOut], summary="List API keys, oldest first")
async def list_api_keys(
    request: Request, limit: int = Query(100, ge=1, le=1000), cursor: str | None = None
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        keys = await apikeys.list_api_keys(session, after=id_cursor(cursor), limit=limit + 1)
    return page_of(keys, limit, ApiKeyOut)


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut, summary="An API key (not the key)")
async def get_api_key(request: Request, key_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return ApiKeyOut.model_validate(await apikeys.get_api_key(session, key_id))


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke an API key at once; the record stays, revoking again changes nothing",
)
async def revoke_api_key(request: Request, key_id: int) -> Response:
    async with request.app.state.db.write() as session:
        await apikeys.revoke_api_key(session, key_id)
    return Response(status_code=204)
