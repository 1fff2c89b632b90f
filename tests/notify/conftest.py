"""Notifications against real receivers: an HTTP server, an SMTP server, the real API.

``notify`` runs the ``notify`` stage and a delivery worker with short retry delays over an
in-process bus and the test's database, next to an API app on the same database; tests publish
alarm events and watch what the receivers get and what ``GET /deliveries`` says.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopfloor.alarms.events import ALARM_EVENTS, event_payload
from shopfloor.app import API_PREFIX, create_app
from shopfloor.bus.base import RetryPolicy
from shopfloor.bus.memory import MemoryBus
from shopfloor.bus.message import Envelope
from shopfloor.config import Settings
from shopfloor.notify import api as notify_api
from shopfloor.notify.senders import SmtpConfig
from shopfloor.notify.stages import NotifyStage
from shopfloor.notify.worker import DeliveryWorker
from shopfloor.pipeline import PipelineRunner
from shopfloor.storage import Database
from tests.fixtures.auth import admin_client
from tests.fixtures.lifespan import app_running
from tests.notify.receivers import HttpReceiver, SmtpReceiver
from tests.pipeline.helpers import wait_until

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.2, max_delay_s=0.4, jitter=0.5)
PATH = "acme/press-line/press-1/oil-temp"
_alarm_ids = itertools.count(1)


def alarm_event(
    event: str = "alarm.opened",
    *,
    path: str = PATH,
    severity: str = "warning",
    alarm_id: int | None = None,
    event_id: str | None = None,
    **fields: Any,
) -> Envelope:
    """An alarm event as the alarm machinery publishes it (``shopfloor.alarms.events``)."""
    alarm = {
        "id": alarm_id if alarm_id is not None else next(_alarm_ids),
        "sensor": 1,
        "path": path,
        "rule": "limits",
        "kind": "threshold",
        "severity": severity,
        "state": "open",
        "message": "reading outside the sensor's limits",
        "value": 93.4,
        "score": 0.97,
        "count": 3,
        "opened_at": "2026-11-22T08:00:00Z",
        "last_seen_at": "2026-11-22T08:00:05Z",
        "acknowledged_by": None,
        "acknowledged_at": None,
        "resolved_by": None,
        "resolved_at": None,
        "assignee": None,
        "notes": [],
        "resolution": None,
        "escalation_level": 0,
        **fields,
    }
    return Envelope(
        topic=ALARM_EVENTS,
        key=path,
        id=event_id or f"outbox-{uuid.uuid4().hex[:12]}",
        payload=event_payload(event, alarm, "2026-11-22T08:00:05Z"),
    )


def with_notify_routes(app: FastAPI) -> FastAPI:
    """The notifications API on ``app``, unless the app mounts it already."""
    if not any(getattr(r, "path", "") == f"{API_PREFIX}/channels" for r in app.routes):
        app.include_router(notify_api.router, prefix=API_PREFIX)
    return app


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API (pipeline off: the tests run the notify stage and worker themselves)."""
    app = with_notify_routes(create_app(settings, run_pipeline=False))
    async with app_running(app), admin_client(app) as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    server = HttpReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def smtp() -> Any:
    server = SmtpReceiver(refuse={"nobody@example.com"})
    server.start()
    yield server
    server.stop()


@dataclass
class Notify:
    api: httpx.AsyncClient
    bus: MemoryBus
    database: Database
    stage: NotifyStage
    worker: DeliveryWorker

    async def publish(self, *events: Envelope) -> None:
        await self.bus.publish(list(events))

    async def channel(self, name: str, kind: str, config: dict, **fields: Any) -> dict:
        body = {"name": name, "kind": kind, "config": config, **fields}
        response = await self.api.post("/channels", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def subscribe(self, channel: dict, scope: str = "acme", **fields: Any) -> dict:
        body = {"channel_id": channel["id"], "scope": scope, **fields}
        response = await self.api.post("/subscriptions", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def webhook(self, receiver: HttpReceiver, path: str = "/hook", **fields: Any) -> dict:
        config = {"url": receiver.url(path), **fields.pop("config", {})}
        channel = await self.channel(f"hook{path.replace('/', '-')}", "webhook", config, **fields)
        await self.subscribe(channel)
        return channel

    async def deliveries(self, **params: Any) -> list[dict]:
        items, cursor = [], None
        while True:
            query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            response = await self.api.get("/deliveries", params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            if not (cursor := page["next_cursor"]):
                return items

    async def wait_for(
        self, condition: Callable[[], bool], within_s: float = 10.0, what: str = ""
    ) -> None:
        await wait_until(condition, within_s=within_s, what=what)

    async def wait_statuses(
        self, expected: dict[str, int], within_s: float = 10.0, **params: Any
    ) -> list[dict]:
        """Wait until the deliveries (filtered by ``params``) have these status counts."""
        found: list[dict] = []
        counts: dict[str, int] = {}

        async def reached() -> bool:
            nonlocal found, counts
            found = await self.deliveries(**params)
            counts = {}
            for item in found:
                counts[item["status"]] = counts.get(item["status"], 0) + 1
            return counts == expected

        try:
            await wait_until(reached, within_s=within_s, what=f"deliveries {expected}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen {counts}") from None
        return found


@pytest.fixture
def notify_factory(api: httpx.AsyncClient, database_url: str, smtp: SmtpReceiver):
    """Builds the notify stage and a worker with the options a test needs."""

    @asynccontextmanager
    async def build(*, stage: dict | None = None, **worker: Any) -> AsyncIterator[Notify]:
        database = Database(database_url)
        await database.start()
        bus = MemoryBus(visibility_timeout_s=5.0)
        await bus.start()
        options = {
            "smtp": SmtpConfig(host="127.0.0.1", port=smtp.port, sender="alarms@acme.example"),
            "retry": FAST_RETRY,
            "poll_s": 0.05,
            "delivery_timeout_s": 5.0,
            "claim_ttl_s": 10.0,
            "public_url": "https://shopfloor.acme.example",
            **worker,
        }
        delivery = DeliveryWorker(database, **options)
        notify_stage = NotifyStage(delivery.wake, **{"cache_ttl_s": 0.0, **(stage or {})})
        runner = PipelineRunner(bus, [notify_stage], "test-worker", database=database, poll_s=0.05)
        await delivery.start()
        await runner.start()
        try:
            yield Notify(api, bus, database, notify_stage, delivery)
        finally:
            await runner.stop()
            await delivery.stop()
            await bus.close()
            await database.dispose()

    return build


@pytest.fixture
async def notify(notify_factory) -> AsyncIterator[Notify]:
    async with notify_factory() as harness:
        yield harness
