"""The plant overview (``/``): the asset tree with each asset's state and open alarms, live.

The page is drawn from the database as it is now; its event stream (``/live/overview``) then
swaps in each asset's status fragment as the broadcaster reports a change, and asks for the
tree again when assets come or go. Those who manage the plant can shelve a machine from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from shopfloor.alarms.schemas import ShelfCreate
from shopfloor.alarms.shelves import create_shelf
from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import ShopfloorError
from shopfloor.web.deps import requires
from shopfloor.web.flash import flash
from shopfloor.web.live import LiveEvent
from shopfloor.web.live.stream import live_events
from shopfloor.web.navigation import NavItem
from shopfloor.web.status.feed import (
    ASSET_KEY,
    PLANT_STATUS,
    SUMMARY_KEY,
    TREE_KEY,
    PlantStatusFeed,
    leaf_paths,
    tree_fingerprint,
)
from shopfloor.web.status.query import read_plant_facts
from shopfloor.web.status.rules import (
    LABELS,
    STATES,
    AssetFacts,
    AssetStatus,
    SensorFacts,
    plant_status,
    summary,
)
from shopfloor.web.templating import render, render_string

router = APIRouter()
NAV = NavItem("Overview", "/", Permission.READ, order=10)
SHELF_MINUTES = (30, 60, 120, 240, 480, 1440)


def plant_status_feed(app: FastAPI) -> PlantStatusFeed:
    return PlantStatusFeed(app.state.store)


FEEDS = (plant_status_feed,)


@dataclass
class TreeNode:
    asset: AssetFacts
    status: AssetStatus
    children: list[TreeNode] = field(default_factory=list)
    sensors: list[SensorFacts] = field(default_factory=list)  # its own, linked to their pages

    @property
    def is_machine(self) -> bool:
        return not self.children


@dataclass(frozen=True)
class Overview:
    roots: list[TreeNode]
    summary: dict[str, int]
    fingerprint: str


async def load_overview(request: Request) -> Overview:
    state = request.app.state
    async with state.db.read() as session:
        facts = await read_plant_facts(session, state.store)
    statuses = plant_status(facts)
    sensors_of: dict[str, list[SensorFacts]] = {}
    for sensor in facts.sensors:
        sensors_of.setdefault(sensor.asset_path, []).append(sensor)
    nodes = {
        a.path: TreeNode(a, statuses[a.path], sensors=sensors_of.get(a.path, []))
        for a in facts.assets
    }
    roots = []
    for path, node in nodes.items():  # assets come sorted by path: parents before children
        parent = nodes.get(path.rpartition("/")[0])
        (parent.children if parent is not None else roots).append(node)
    counts = summary(statuses.values(), leaf_paths(facts.assets))
    return Overview(roots, counts, tree_fingerprint(facts.assets))


def _context(overview: Overview) -> dict[str, object]:
    return {
        "roots": overview.roots,
        "summary": overview.summary,
        "fingerprint": overview.fingerprint,
        "states": STATES,
        "labels": LABELS,
        "shelf_minutes": SHELF_MINUTES,
    }


@router.get("/", name="overview")
async def overview_page(request: Request) -> Response:
    return render(request, "overview/page.html", _context(await load_overview(request)))


@router.get("/overview/tree", name="overview_tree")
async def overview_tree(request: Request) -> Response:
    """The tree alone, fetched again when the stream says assets came or went."""
    return render(request, "overview/tree.html", _context(await load_overview(request)), page=False)


@router.get("/live/overview", response_class=EventSourceResponse, name="overview_live")
async def overview_live(
    request: Request, tree: str = Query("", max_length=64)
) -> AsyncIterator[ServerSentEvent]:
    shown_tree = [tree]

    def render_event(event: LiveEvent) -> Iterator[ServerSentEvent]:
        if event.data is None or event.key is None:
            return
        if event.key == TREE_KEY:
            if event.data != shown_tree[0]:
                shown_tree[0] = event.data
                yield ServerSentEvent(event="tree-changed", data=event.data)
        elif event.key == SUMMARY_KEY:
            context = {"summary": event.data, "states": STATES, "labels": LABELS}
            html = render_string(request, "overview/summary.html", context, page=False)
            yield ServerSentEvent(event="summary", raw_data=html)
        elif event.key.startswith(ASSET_KEY):
            status: AssetStatus = event.data
            html = render_string(request, "overview/status.html", {"status": status}, page=False)
            yield ServerSentEvent(event=f"asset-{status.id}", raw_data=html)

    async for message in live_events(request, [PLANT_STATUS], render_event):
        yield message


@router.post("/overview/shelve", name="overview_shelve")
async def shelve(
    request: Request,
    scope: str = Form("", max_length=255),
    minutes: int = Form(60, ge=1),
    reason: str = Form("", max_length=500),
    principal: Principal = Depends(requires(Permission.MANAGE_PLANT)),
) -> Response:
    """Shelve an asset for a maintenance window, as ``POST /api/v1/shelves`` does."""
    try:
        data = ShelfCreate(scope=scope, minutes=minutes, reason=reason)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        flash(request, f"Not shelved: {problems}.", "error")
        return RedirectResponse("/", status_code=303)
    try:
        async with request.app.state.db.write() as session:
            await create_shelf(session, data, principal.actor)
    except ShopfloorError as exc:
        flash(request, f"Not shelved: {exc.detail}", "error")
        return RedirectResponse("/", status_code=303)
    flash(request, f"{scope} is shelved for {minutes} minutes: {reason.strip()}", "success")
    return RedirectResponse("/", status_code=303)
