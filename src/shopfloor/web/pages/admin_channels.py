"""Notification channels and their subscriptions (``/admin/channels``).

For those who manage notifications (maintenance engineers, quality managers, admins). Through
the same service as ``/api/v1/channels`` and ``/api/v1/subscriptions`` (``notify.service``),
and, like those routes, each change tells this process's subscription cache at once
(``subscriptions_changed``). A webhook's secret is never shown back, not even after a refused
form: it is typed again or left as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.events import SEVERITIES, SUBSCRIBABLE_EVENTS
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import AlreadyExists, NotFound, ShopfloorError
from shopfloor.notify import service
from shopfloor.notify.matching import subscriptions_changed
from shopfloor.notify.models import Channel, Subscription
from shopfloor.notify.schemas import ChannelUpdate
from shopfloor.web.admin.channel_forms import (
    KIND_LABELS,
    KINDS,
    channel_changes,
    channel_form,
    new_channel,
    new_subscription,
    refuse_channel,
    subscription_changes,
    subscription_form,
    target_of,
)
from shopfloor.web.admin.forms import FormState, form_values, sentence
from shopfloor.web.admin.respond import admin_context, done, section
from shopfloor.web.deps import requires

router = APIRouter(dependencies=[Depends(requires(Permission.MANAGE_NOTIFY))])
NAV = None
SECTION = "channels"
URL = "/admin/channels"
PAGE, FRAGMENT = "admin/channels/page.html", "admin/channels/section.html"
LIST_LIMIT = 500
UNTRIMMED = ("webhook.secret", "email.template", "email.html_template", "slack.template")
EVENT_LABELS = {
    "alarm.opened": "opened (and reminders)",
    "alarm.escalated": "escalated",
    "alarm.acknowledged": "acknowledged",
    "alarm.resolved": "resolved",
}


@dataclass(frozen=True, slots=True)
class ChannelView:
    channel: Channel
    subscriptions: list[Subscription]
    target: str


@dataclass
class Changes:
    """What the section shows besides the channels: a notice, and forms with problems."""

    notice: str | None = None
    problem: str | None = None
    create: FormState | None = None
    edits: dict[int, FormState] = field(default_factory=dict)  # by channel
    new_subscriptions: dict[int, FormState] = field(default_factory=dict)  # by channel
    subscription_edits: dict[int, FormState] = field(default_factory=dict)  # by subscription


async def _views(session: AsyncSession) -> list[ChannelView]:
    channels = await service.list_channels(session, None, LIST_LIMIT)
    subscriptions = await service.list_subscriptions(session, None, None, LIST_LIMIT * 4)
    by_channel: dict[int, list[Subscription]] = {}
    for subscription in subscriptions:
        by_channel.setdefault(subscription.channel_id, []).append(subscription)
    return [ChannelView(c, by_channel.get(c.id, []), target_of(c)) for c in channels]


async def _section(request: Request, changes: Changes, status_code: int = 200) -> Response:
    async with request.app.state.db.read() as session:
        views = await _views(session)
    context = admin_context(
        request,
        SECTION,
        views=views,
        changes=changes,
        notice=changes.notice,
        problem=changes.problem,
        create=changes.create or channel_form("new-channel"),
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        severities=[(s, s) for s in SEVERITIES],
        events=[(e, EVENT_LABELS.get(e, e)) for e in SUBSCRIBABLE_EVENTS],
        event_labels=EVENT_LABELS,
        channel_form=channel_form,
        subscription_form=subscription_form,
    )
    return section(request, PAGE, FRAGMENT, context, status_code)


async def _apply(
    request: Request,
    change: Callable[[AsyncSession], Awaitable[str]],
    refused: Callable[[ShopfloorError], Changes],
) -> Response:
    """Run one change in a unit of work; its notice, or its refusal, shows in the section."""
    try:
        async with request.app.state.db.write() as session:
            notice = await change(session)
    except IntegrityError:  # lost a race for a name
        exc = AlreadyExists("a channel with that name was just created")
        return await _section(request, refused(exc), exc.status)
    except NotFound as exc:
        return await _section(request, Changes(problem=sentence(exc.detail)), exc.status)
    except ShopfloorError as exc:
        return await _section(request, refused(exc), exc.status)
    subscriptions_changed()
    return done(request, URL, notice) or await _section(request, Changes(notice=notice))


async def _values(request: Request) -> dict[str, Any]:
    return form_values(await request.form(), lists=("events",), untrimmed=UNTRIMMED)


@router.get(URL, name="admin_channels")
async def channels_page(request: Request) -> Response:
    return await _section(request, Changes())


@router.post(URL)
async def create_channel(request: Request) -> Response:
    form = channel_form("new-channel")
    form.values = await _values(request)
    body = new_channel(form)
    if body is None:
        return await _section(request, Changes(create=form), 422)

    async def change(session: AsyncSession) -> str:
        channel = await service.create_channel(session, body)
        return f"The channel {channel.name} is ready; subscribe it to alarms below."

    return await _apply(request, change, lambda exc: Changes(create=refuse_channel(form, exc)))


@router.post(URL + "/{channel_id}")
async def update_channel(request: Request, channel_id: int) -> Response:
    async with request.app.state.db.read() as session:
        try:
            kind = (await service.get_channel(session, channel_id)).kind
        except NotFound as exc:
            return await _section(request, Changes(problem=sentence(exc.detail)), exc.status)
    form = channel_form(f"channel-{channel_id}")
    form.values = {**await _values(request), "kind": kind}
    body = channel_changes(form, kind)
    if body is None:
        return await _section(request, Changes(edits={channel_id: form}), 422)

    async def change(session: AsyncSession) -> str:
        channel = await service.update_channel(session, channel_id, body)
        return f"The channel {channel.name} is saved."

    return await _apply(
        request, change, lambda exc: Changes(edits={channel_id: refuse_channel(form, exc)})
    )


@router.post(URL + "/{channel_id}/enabled")
async def switch_channel(request: Request, channel_id: int) -> Response:
    enabled = (await request.form()).get("enabled") == "true"

    async def change(session: AsyncSession) -> str:
        channel = await service.update_channel(session, channel_id, ChannelUpdate(enabled=enabled))
        if enabled:
            return f"The channel {channel.name} sends again."
        return f"The channel {channel.name} is disabled: its notifications are skipped."

    return await _apply(request, change, lambda exc: Changes(problem=sentence(exc.detail)))


@router.post(URL + "/{channel_id}/delete")
async def delete_channel(request: Request, channel_id: int) -> Response:
    async def change(session: AsyncSession) -> str:
        name = (await service.get_channel(session, channel_id)).name
        await service.delete_channel(session, channel_id)
        return f"The channel {name} is deleted, with its subscriptions and deliveries."

    return await _apply(request, change, lambda exc: Changes(problem=sentence(exc.detail)))


# --- subscriptions ----------------------------------------------------------------------------


@router.post(URL + "/{channel_id}/subscriptions")
async def create_subscription(request: Request, channel_id: int) -> Response:
    form = subscription_form(f"channel-{channel_id}-new-subscription")
    form.values = await _values(request)
    body = new_subscription(form, channel_id)
    if body is None:
        return await _section(request, Changes(new_subscriptions={channel_id: form}), 422)

    async def change(session: AsyncSession) -> str:
        await service.create_subscription(session, body)
        where = body.scope or "the whole plant"
        return f"Subscribed: {body.min_severity} alarms and worse under {where}."

    return await _apply(
        request, change, lambda exc: Changes(new_subscriptions={channel_id: form.refuse(exc)})
    )


@router.post("/admin/subscriptions/{subscription_id}")
async def update_subscription(request: Request, subscription_id: int) -> Response:
    form = subscription_form(f"subscription-{subscription_id}")
    form.values = await _values(request)
    body = subscription_changes(form)
    if body is None:
        return await _section(request, Changes(subscription_edits={subscription_id: form}), 422)

    async def change(session: AsyncSession) -> str:
        await service.update_subscription(session, subscription_id, body)
        return "The subscription is saved."

    return await _apply(
        request,
        change,
        lambda exc: Changes(subscription_edits={subscription_id: form.refuse(exc)}),
    )


@router.post("/admin/subscriptions/{subscription_id}/delete")
async def delete_subscription(request: Request, subscription_id: int) -> Response:
    async def change(session: AsyncSession) -> str:
        await service.delete_subscription(session, subscription_id)
        return "The subscription is deleted."

    return await _apply(request, change, lambda exc: Changes(problem=sentence(exc.detail)))
