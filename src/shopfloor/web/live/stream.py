"""A browser's event stream: a subscription rendered as Server-Sent Events for one viewer.

A page's stream route is a few lines::

    @router.get("/live/things", response_class=EventSourceResponse)
    async def things_live(request: Request) -> AsyncIterator[ServerSentEvent]:
        async for message in live_events(request, ["things"], render_thing):
            yield message

``render_thing(event)`` returns the messages for one ``LiveEvent`` (an HTML fragment as
``ServerSentEvent(event="thing-12", raw_data=html)``, which an element with
``sse-swap="thing-12" hx-swap="innerHTML"`` swaps in), or nothing. Say ``hx-swap`` on every
``sse-swap`` element: htmx inherits it from ancestors, where it may mean something else.

The stream ends when the process stops (the browser reconnects, to this process or another)
and when the session's access token expires (the reconnect rotates it). A session that was
ended meanwhile (signed out, deactivated, new password) gets a ``signed-out`` event, on which
the page reloads and so lands on the sign-in page.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable

from fastapi import Request
from fastapi.sse import ServerSentEvent

from shopfloor.web.deps import browser_session
from shopfloor.web.errors import SIGNED_OUT
from shopfloor.web.live.broadcaster import Broadcaster, LiveEvent
from shopfloor.web.session import still_valid

RECONNECT_MS = 1000
SESSION_CHECK_S = 30.0
Renderer = Callable[[LiveEvent], Iterable[ServerSentEvent]]


def broadcaster_of(request: Request) -> Broadcaster:
    return request.app.state.web_live


async def live_events(
    request: Request, topics: Iterable[str], render: Renderer
) -> AsyncIterator[ServerSentEvent]:
    """The stream of ``topics`` for this request's viewer, each event through ``render``."""
    session = browser_session(request)
    yield ServerSentEvent(comment="live", retry=RECONNECT_MS)
    async with broadcaster_of(request).subscribe(topics) as subscription:
        check_at = _next_check(session.expires_at)
        while True:
            batch = await subscription.next_batch(max(0.0, check_at - time.time()))
            if batch is None:
                return  # the process is stopping
            for event in batch:
                for message in render(event):
                    yield message
            if time.time() < check_at:
                continue
            if not await still_valid(request, session):
                if time.time() < session.expires_at:
                    yield ServerSentEvent(event=SIGNED_OUT, data="")
                return
            check_at = _next_check(session.expires_at)


def _next_check(expires_at: float) -> float:
    return min(time.time() + SESSION_CHECK_S, expires_at)
