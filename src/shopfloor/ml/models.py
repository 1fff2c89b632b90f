"""What the pipeline last worked out about each asset's health, one row per asset.

Written by the ``health`` stage as readings arrive (and read by ``GET /assets/{id}/health``), so
a dashboard or a client reads the figures instead of running the models on every request.
``updated_at`` is the time of the newest reading the figures rest on; ``computed_at`` when they
were worked out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.plant import models as plant_models  # noqa: F401  (assets table)
from shopfloor.storage.base import Base, JsonDocument


class AssetHealth(Base):
    __tablename__ = "asset_health"

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    failure_risk: Mapped[float | None] = mapped_column(Float)
    rul: Mapped[float | None] = mapped_column(Float)
    # {"rul": {"name", "version"}, "failure": {...}}
    models: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    problems: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    updated_at: Mapped[datetime | None] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column()
