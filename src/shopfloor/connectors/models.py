"""Tables of the connectors: their configuration (managed through the API) and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.core.clock import utcnow
from shopfloor.storage.base import Base


class ConnectorConfig(Base):
    """A connector defined through the API; ``settings`` is its validated configuration."""

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConnectorDeadLetter(Base):
    """A message a connector received and could not store, kept as it arrived."""

    __tablename__ = "connector_dead_letters"
    __table_args__ = (Index("ix_connector_dead_letters_topic", "topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class ConnectorStatusRow(Base):
    """The last state a running connector reported, so any process can answer
    ``GET /connectors`` for connectors running in another one."""

    __tablename__ = "connector_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    process: Mapped[str] = mapped_column(String(128))
    state: Mapped[dict[str, Any]]
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
