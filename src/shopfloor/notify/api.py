"""HTTP: notification channels, subscriptions, and the deliveries made for them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import Page, encode_cursor
from shopfloor.notify import service
from shopfloor.notify.matching import subscriptions_changed
from shopfloor.notify.schemas import (
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    DeliveryOut,
    DeliveryStatus,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionUpdate,
    channel_out,
)
from shopfloor.storage.lookup import MAX_ID, id_cursor

router = APIRouter(tags=["notifications"])


def _id_filter(description: str) -> Any:
    return Query(None, ge=1, le=MAX_ID, description=description)


def _next(items: list[Any], limit: int) -> str | None:
    return encode_cursor(items[limit - 1].id) if len(items) > limit else None


@router.post("/channels", status_code=201, response_model=ChannelOut, summary="Create a channel")
async def create_channel(request: Request, body: ChannelCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        channel = await service.create_channel(session, body)
        return channel_out(channel).model_dump(mode="json")

    response = await create_once(request.app.state.db, request, body.model_dump(), create)
    subscriptions_changed()
    return response


@router.get("/channels", response_model=Page[ChannelOut], summary="List channels")
async def list_channels(
    request: Request, limit: int = Query(100, ge=1, le=1000), cursor: str | None = None
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = list(await service.list_channels(session, id_cursor(cursor), limit + 1))
    return {"items": [channel_out(c) for c in items[:limit]], "next_cursor": _next(items, limit)}


@router.get("/channels/{channel_id}", response_model=ChannelOut)
async def get_channel(request: Request, channel_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return channel_out(await service.get_channel(session, channel_id))


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
async def update_channel(request: Request, channel_id: int, body: ChannelUpdate) -> Any:
    async with request.app.state.db.write() as session:
        channel = channel_out(await service.update_channel(session, channel_id, body))
    subscriptions_changed()
    return channel


@router.delete("/channels/{channel_id}", status_code=204, response_class=Response)
async def delete_channel(request: Request, channel_id: int) -> Response:
    async with request.app.state.db.write() as session:
        await service.delete_channel(session, channel_id)
    subscriptions_changed()
    return Response(status_code=204)


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionOut,
    summary="Subscribe a channel to alarm events under a path",
)
async def create_subscription(request: Request, body: SubscriptionCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        subscription = await service.create_subscription(session, body)
        return SubscriptionOut.model_validate(subscription).model_dump(mode="json")

    response = await create_once(request.app.state.db, request, body.model_dump(), create)
    subscriptions_changed()
    return response


@router.get("/subscriptions", response_model=Page[SubscriptionOut], summary="List subscriptions")
async def list_subscriptions(
    request: Request,
    channel_id: int | None = _id_filter("Only the subscriptions of this channel"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = None,
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = list(
            await service.list_subscriptions(session, channel_id, id_cursor(cursor), limit + 1)
        )
    return {
        "items": [SubscriptionOut.model_validate(s) for s in items[:limit]],
        "next_cursor": _next(items, limit),
    }


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(request: Request, subscription_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return SubscriptionOut.model_validate(
            await service.get_subscription(session, subscription_id)
        )


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def update_subscription(
    request: Request, subscription_id: int, body: SubscriptionUpdate
) -> Any:
    async with request.app.state.db.write() as session:
        subscription = await service.update_subscription(session, subscription_id, body)
        out = SubscriptionOut.model_validate(subscription)
    subscriptions_changed()
    return out


@router.delete("/subscriptions/{subscription_id}", status_code=204, response_class=Response)
async def delete_subscription(request: Request, subscription_id: int) -> Response:
    async with request.app.state.db.write() as session:
        await service.delete_subscription(session, subscription_id)
    subscriptions_changed()
    return Response(status_code=204)


@router.get(
    "/deliveries",
    response_model=Page[DeliveryOut],
    summary="Notifications made for alarm events, newest first",
)
async def list_deliveries(
    request: Request,
    status: DeliveryStatus | None = None,
    channel_id: int | None = _id_filter("Only the deliveries of this channel"),
    alarm_id: int | None = _id_filter("Only the deliveries about this alarm"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = None,
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        items = list(
            await service.list_deliveries(
                session,
                status=status,
                channel_id=channel_id,
                alarm_id=alarm_id,
                before=id_cursor(cursor),
                limit=limit + 1,
            )
        )
    return {
        "items": [DeliveryOut.model_validate(d) for d in items[:limit]],
        "next_cursor": _next(items, limit),
    }


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
async def get_delivery(request: Request, delivery_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return DeliveryOut.model_validate(await service.get_delivery(session, delivery_id))
