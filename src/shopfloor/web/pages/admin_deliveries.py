"""Notification deliveries (``/admin/deliveries``): what was sent, retried or given up on.

For those who manage notifications; the same list as ``GET /api/v1/deliveries``
(``notify.service.list_deliveries``), newest first, by state and channel, a page at a time.
The table follows new deliveries live: its event stream (``/live/admin/deliveries``) says when
the newest ones changed, and the table is fetched again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from shopfloor.auth.roles import Permission
from shopfloor.notify import service
from shopfloor.notify.models import DELIVERY_STATUSES
from shopfloor.storage.lookup import MAX_ID
from shopfloor.web.admin.delivery_feed import (
    DELIVERIES,
    RECENT_KEY,
    deliveries_feed,
    recent_fingerprint,
)
from shopfloor.web.admin.respond import admin_context
from shopfloor.web.deps import requires
from shopfloor.web.live import LiveEvent
from shopfloor.web.live.stream import live_events
from shopfloor.web.templating import render

router = APIRouter(dependencies=[Depends(requires(Permission.MANAGE_NOTIFY))])
NAV = None
FEEDS = (deliveries_feed,)
SECTION = "deliveries"
PAGE_SIZE = 50
# Each state in words and as the overview's state shapes (never colour alone).
STATES = {
    "pending": ("shelved", "Pending"),
    "sending": ("shelved", "Sending"),
    "sent": ("ok", "Sent"),
    "failed": ("warning", "Failed, will retry"),
    "dead": ("alarm", "Given up"),
    "skipped": ("unmonitored", "Skipped"),
}


async def _context(
    request: Request, status: str | None, channel: int | None, before: int | None
) -> dict[str, object]:
    async with request.app.state.db.read() as session:
        found = list(
            await service.list_deliveries(
                session,
                status=status,
                channel_id=channel,
                alarm_id=None,
                before=before,
                limit=PAGE_SIZE + 1,
            )
        )
        channels = {c.id: c.name for c in await service.list_channels(session, None, 1000)}
    shown = found[:PAGE_SIZE]
    return admin_context(
        request,
        SECTION,
        deliveries=shown,
        older=shown[-1].id if len(found) > PAGE_SIZE else None,
        status=status,
        channel=channel,
        before=before,
        channels=channels,
        statuses=DELIVERY_STATUSES,
        states=STATES,
    )


def _filters(
    status: str | None = Query(None, pattern="^(" + "|".join(DELIVERY_STATUSES) + ")?$"),
    channel: int | None = Query(None, ge=1, le=MAX_ID),
    before: int | None = Query(None, ge=1, le=MAX_ID + 1),
) -> tuple[str | None, int | None, int | None]:
    return status or None, channel, before


@router.get("/admin/deliveries", name="admin_deliveries")
async def deliveries_page(
    request: Request, filters: tuple[str | None, int | None, int | None] = Depends(_filters)
) -> Response:
    context = await _context(request, *filters)
    context["fingerprint"] = await recent_fingerprint(request.app.state.db)
    return render(request, "admin/deliveries/page.html", context)


@router.get("/admin/deliveries/table", name="admin_deliveries_table")
async def deliveries_table(
    request: Request, filters: tuple[str | None, int | None, int | None] = Depends(_filters)
) -> Response:
    """The table alone, fetched again when the stream says deliveries changed."""
    context = await _context(request, *filters)
    return render(request, "admin/deliveries/table.html", context, page=False)


@router.get("/live/admin/deliveries", response_class=EventSourceResponse)
async def deliveries_live(
    request: Request, seen: str = Query("", max_length=64)
) -> AsyncIterator[ServerSentEvent]:
    shown = [seen]

    def render_event(event: LiveEvent) -> Iterator[ServerSentEvent]:
        if event.key == RECENT_KEY and event.data is not None and event.data != shown[0]:
            shown[0] = event.data
            yield ServerSentEvent(event="deliveries-changed", data=event.data)

    async for message in live_events(request, [DELIVERIES], render_event):
        yield message
