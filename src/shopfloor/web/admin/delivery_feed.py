"""The live feed of notification deliveries (topic ``notify.deliveries``).

One key, ``recent``: a fingerprint of the newest deliveries (their ids, states and attempts). It
changes when a delivery is made, sent, retried or given up on, and the deliveries page then
fetches its table again. Read only while someone has that page open.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from shopfloor.notify.models import Delivery
from shopfloor.storage import Database
from shopfloor.web.live.feeds import StateFeed

DELIVERIES = "notify.deliveries"
RECENT_KEY = "recent"
WATCHED_ROWS = 100


async def recent_fingerprint(db: Database) -> str:
    async with db.read() as session:
        rows = await session.execute(
            select(Delivery.id, Delivery.status, Delivery.attempts)
            .order_by(Delivery.id.desc())
            .limit(WATCHED_ROWS)
        )
        text = "\n".join(f"{i}\t{s}\t{a}" for i, s, a in rows)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DeliveriesFeed(StateFeed):
    topic = DELIVERIES

    async def read(self, db: Database) -> dict[str, Any]:
        return {RECENT_KEY: await recent_fingerprint(db)}


def deliveries_feed(app: FastAPI) -> DeliveriesFeed:
    return DeliveriesFeed()
