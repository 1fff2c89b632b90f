"""Alarms: at most one that is not closed per (sensor, rule), enforced by the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.storage.base import Base

NOT_CLOSED = text("state <> 'closed'")


class Alarm(Base):
    __tablename__ = "alarms"
    __table_args__ = (
        # Concurrent workers can never open a second alarm for the same condition.
        Index(
            "uq_alarms_open_per_rule",
            "sensor_id",
            "rule",
            unique=True,
            sqlite_where=NOT_CLOSED,
            postgresql_where=NOT_CLOSED,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="open")
    message: Mapped[str] = mapped_column(String(500))
    value: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    # The newest reading counted (messages may arrive out of order).
    last_reading_us: Mapped[int] = mapped_column(BigInteger)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column()
    assignee: Mapped[str | None] = mapped_column(String(100))


class ProcessedMessage(Base):
    """Messages whose effects a stage has committed: a redelivery of one changes nothing.

    Written in the same transaction as the effects. Keyed by message id, not by a timestamp
    watermark: messages of one sensor can arrive out of order when another worker claims what a
    dead one held, and an older message must still count.
    """

    __tablename__ = "processed_messages"

    stage: Mapped[str] = mapped_column(String(100), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(index=True)
