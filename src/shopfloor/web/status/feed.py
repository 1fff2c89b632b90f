"""The live feed of the plant's states (topic ``plant.status``), for the overview and others.

Keys and what their events carry:
- ``asset:<path>``: that asset's ``AssetStatus`` (None once the asset is gone);
- ``summary``: ``{state: number of machines in it}`` over the machines (assets without children);
- ``tree``: a fingerprint of the asset tree, which changes when assets come, go or are renamed
  (a page then fetches its tree again: states alone cannot place a new machine).
"""

from __future__ import annotations

import hashlib
from typing import Any

from shopfloor.readings.store import ReadingStore
from shopfloor.storage import Database
from shopfloor.web.live.feeds import StateFeed
from shopfloor.web.status.query import read_plant_facts
from shopfloor.web.status.rules import AssetFacts, plant_status, summary

PLANT_STATUS = "plant.status"
ASSET_KEY = "asset:"
SUMMARY_KEY = "summary"
TREE_KEY = "tree"


def leaf_paths(assets: tuple[AssetFacts, ...]) -> set[str]:
    """The machines: assets no other asset hangs off."""
    parents = {asset.path.rpartition("/")[0] for asset in assets}
    return {asset.path for asset in assets if asset.path not in parents}


def tree_fingerprint(assets: tuple[AssetFacts, ...]) -> str:
    text = "\n".join(f"{a.id}\t{a.path}\t{a.kind}\t{a.name}" for a in assets)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PlantStatusFeed(StateFeed):
    topic = PLANT_STATUS

    def __init__(self, store: ReadingStore) -> None:
        super().__init__()
        self.store = store

    async def read(self, db: Database) -> dict[str, Any]:
        async with db.read() as session:
            facts = await read_plant_facts(session, self.store)
        statuses = plant_status(facts)
        states: dict[str, Any] = {f"{ASSET_KEY}{path}": s for path, s in statuses.items()}
        states[SUMMARY_KEY] = summary(statuses.values(), leaf_paths(facts.assets))
        states[TREE_KEY] = tree_fingerprint(facts.assets)
        return states
