"""Channels and subscriptions: their rules. Takes a session, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, ValidationFailed
from shopfloor.notify.models import Channel, Delivery, Subscription
from shopfloor.notify.schemas import (
    ChannelCreate,
    ChannelUpdate,
    SubscriptionCreate,
    SubscriptionUpdate,
    checked_config,
)
from shopfloor.storage.lookup import get_or_404, is_row_id


async def _name_free(session: AsyncSession, name: str, but: int | None = None) -> None:
    query = select(Channel.id).where(Channel.name == name)
    if but is not None:
        query = query.where(Channel.id != but)
    if await session.scalar(query) is not None:
        raise AlreadyExists(f"a channel is already named {name!r}")


async def create_channel(session: AsyncSession, data: ChannelCreate) -> Channel:
    config = checked_config(data.kind, data.config)
    await _name_free(session, data.name)
    now = utcnow()
    channel = Channel(
        name=data.name,
        kind=data.kind,
        config=config,
        enabled=data.enabled,
        rate_limit_messages=data.rate_limit.messages,
        rate_limit_window_s=data.rate_limit.window_s,
        created_at=now,
        updated_at=now,
    )
    session.add(channel)
    await session.flush()
    return channel


async def get_channel(session: AsyncSession, channel_id: int) -> Channel:
    return await get_or_404(session, Channel, channel_id, "channel")


async def list_channels(session: AsyncSession, after: int | None, limit: int) -> Sequence[Channel]:
    query = select(Channel).order_by(Channel.id).limit(limit)
    if after is not None:
        query = query.where(Channel.id > after)
    return (await session.scalars(query)).all()


def _merged_config(channel: Channel, config: dict[str, Any]) -> dict[str, Any]:
    """A webhook's secret is never shown, so a config sent back without one keeps it."""
    merged = dict(config)
    if channel.kind == "webhook" and "secret" not in merged and channel.config.get("secret"):
        merged["secret"] = channel.config["secret"]
    if merged.get("secret", "") is None:
        del merged["secret"]
    merged.pop("secret_set", None)  # echoed back from a GET: not a setting
    return merged


async def update_channel(session: AsyncSession, channel_id: int, data: ChannelUpdate) -> Channel:
    channel = await get_channel(session, channel_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is not None:
        await _name_free(session, changes["name"], but=channel.id)
        channel.name = changes["name"]
    if data.config is not None:
        channel.config = checked_config(channel.kind, _merged_config(channel, data.config))
    if changes.get("enabled") is not None:
        channel.enabled = changes["enabled"]
    if data.rate_limit is not None:  # a part given changes that part only
        limit = data.rate_limit.model_dump(exclude_unset=True)
        channel.rate_limit_messages = limit.get("messages", channel.rate_limit_messages)
        channel.rate_limit_window_s = limit.get("window_s", channel.rate_limit_window_s)
    channel.updated_at = utcnow()
    await session.flush()
    return channel


async def delete_channel(session: AsyncSession, channel_id: int) -> None:
    """Its subscriptions and deliveries go with it."""
    channel = await get_channel(session, channel_id)
    await session.delete(channel)
    await session.flush()


async def create_subscription(session: AsyncSession, data: SubscriptionCreate) -> Subscription:
    if not is_row_id(data.channel_id) or await session.get(Channel, data.channel_id) is None:
        msg = f"channel {data.channel_id} does not exist"
        raise ValidationFailed(
            msg, errors=[{"loc": ["channel_id"], "msg": msg, "type": "not_found"}]
        )
    now = utcnow()
    subscription = Subscription(
        channel_id=data.channel_id,
        scope=data.scope,
        min_severity=data.min_severity,
        events=list(data.events),
        quiet_hours=data.quiet_hours.model_dump() if data.quiet_hours else None,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def get_subscription(session: AsyncSession, subscription_id: int) -> Subscription:
    return await get_or_404(session, Subscription, subscription_id, "subscription")


async def list_subscriptions(
    session: AsyncSession, channel_id: int | None, after: int | None, limit: int
) -> Sequence[Subscription]:
    query = select(Subscription).order_by(Subscription.id).limit(limit)
    if channel_id is not None:
        query = query.where(Subscription.channel_id == channel_id)
    if after is not None:
        query = query.where(Subscription.id > after)
    return (await session.scalars(query)).all()


async def update_subscription(
    session: AsyncSession, subscription_id: int, data: SubscriptionUpdate
) -> Subscription:
    subscription = await get_subscription(session, subscription_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("scope", "min_severity", "events"):
        if changes.get(field) is not None:
            setattr(subscription, field, changes[field])
    if "quiet_hours" in changes:
        subscription.quiet_hours = changes["quiet_hours"]
    subscription.updated_at = utcnow()
    await session.flush()
    return subscription


async def delete_subscription(session: AsyncSession, subscription_id: int) -> None:
    subscription = await get_subscription(session, subscription_id)
    await session.delete(subscription)
    await session.flush()


async def get_delivery(session: AsyncSession, delivery_id: int) -> Delivery:
    return await get_or_404(session, Delivery, delivery_id, "delivery")


async def list_deliveries(
    session: AsyncSession,
    *,
    status: str | None,
    channel_id: int | None,
    alarm_id: int | None,
    before: int | None,
    limit: int,
) -> Sequence[Delivery]:
    """Newest first."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Delivery.status == status)
    if channel_id is not None:
        query = query.where(Delivery.channel_id == channel_id)
    if alarm_id is not None:
        query = query.where(Delivery.alarm_id == alarm_id)
    if before is not None:
        query = query.where(Delivery.id < before)
    return (await session.scalars(query)).all()
