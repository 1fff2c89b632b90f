"""Stage state: what a stage must not relearn after a restart (baselines, debounce timers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.core.clock import utcnow
from shopfloor.storage.base import Base


class StageStateRow(Base):
    """One JSON document per (stage, key); the key is usually a sensor or asset path."""

    __tablename__ = "stage_state"

    stage: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
