"""The stored health of assets: written by the health stage, read by the API and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.core.clock import rfc3339
from shopfloor.ml.models import AssetHealth
from shopfloor.pipeline.state import INSERTS


async def save_health(
    session: AsyncSession, asset_id: int, health: dict[str, Any], computed_at: datetime
) -> None:
    """Insert or replace the asset's row in one statement (two workers may race on it)."""
    values = {
        "failure_risk": health["failure_risk"],
        "rul": health["rul"],
        "models": health["models"],
        "problems": health["problems"],
        "updated_at": health["updated_at"],
        "computed_at": computed_at,
    }
    insert = INSERTS[session.get_bind().dialect.name]
    statement = insert(AssetHealth).values(asset_id=asset_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["asset_id"], set_=values))


async def stored_health(session: AsyncSession, asset_id: int) -> dict[str, Any] | None:
    """The asset's health as last worked out, or None when it never was."""
    row = await session.get(AssetHealth, asset_id, populate_existing=True)
    if row is None:
        return None
    return {
        "failure_risk": row.failure_risk,
        "rul": row.rul,
        "models": row.models,
        "updated_at": row.updated_at,
        "computed_at": row.computed_at,
        "problems": row.problems,
    }


def health_json(health: dict[str, Any]) -> dict[str, Any]:
    """Times as RFC 3339 strings."""
    return {
        key: rfc3339(value) if isinstance(value, datetime) else value
        for key, value in health.items()
    }
