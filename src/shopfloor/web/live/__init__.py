"""Live updates: one broadcaster per process, feeds that read changes, streams to browsers.

- ``Broadcaster.subscribe(topics)``: events of some topics (``broadcaster.py``);
- ``StateFeed``: a feed of keyed states, reporting only what changed (``feeds.py``);
- ``live_events(request, topics, render)``: a subscription as an SSE stream (``stream.py``).
"""

from shopfloor.web.live.broadcaster import Broadcaster, Feed, LiveEvent, Subscription
from shopfloor.web.live.feeds import StateFeed

__all__ = ["Broadcaster", "Feed", "LiveEvent", "StateFeed", "Subscription"]
