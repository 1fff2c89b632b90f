"""Notification channels, who subscribes to what, and every delivery attempted.

A delivery row is the unit of work of the delivery worker and the record users see in
``GET /deliveries``. Its life:

    pending ──claim──> sending ──> sent
       ^                  │
       └── failed <───────┤ (a retry is due at next_attempt_at)
                          └──> dead (permanent error, or out of attempts)
    skipped                (quiet hours, a disabled channel: never sent, with the reason)

A pending delivery held back by its channel's rate limit (``held_at``) is folded into a digest
when the window frees: it then points to the digest's row (``digest_id``) and follows that
row's fate (sent, failed, dead).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.core.clock import utcnow
from shopfloor.storage.base import Base, JsonDocument, PathString

CHANNEL_KINDS = ("webhook", "email", "slack")
PENDING, SENDING, SENT, FAILED, DEAD, SKIPPED = (
    "pending",
    "sending",
    "sent",
    "failed",
    "dead",
    "skipped",
)
DELIVERY_STATUSES = (PENDING, SENDING, SENT, FAILED, DEAD, SKIPPED)
# Waiting for an attempt (the first, or a retry once next_attempt_at has come).
WAITING = (PENDING, FAILED)
DIGEST_EVENT = "digest"


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # At most this many messages (a digest counts as one, and so does an attempt that failed)
    # per sliding window.
    rate_limit_messages: Mapped[int] = mapped_column(Integer, default=10)
    rate_limit_window_s: Mapped[float] = mapped_column(Float, default=60.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """Alarm events under ``scope`` ("" is the whole plant) of at least ``min_severity``."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(PathString, default="")
    min_severity: Mapped[str] = mapped_column(String(16), default="info")
    events: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    # {"start": "HH:MM", "end": "HH:MM", "timezone": IANA name}, or None.
    quiet_hours: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # A replayed event creates nothing twice.
        UniqueConstraint("event_id", "channel_id", name="uq_deliveries_event_channel"),
        # What the worker looks for: waiting rows whose time has come.
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        # A channel's attempts within its rate-limit window.
        Index("ix_deliveries_channel_attempted", "channel_id", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(200))  # the bus envelope's id
    event: Mapped[str] = mapped_column(String(32))
    alarm_id: Mapped[int | None] = mapped_column(Integer, index=True)
    path: Mapped[str | None] = mapped_column(PathString)
    severity: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempted_at: Mapped[datetime | None] = mapped_column()  # the last attempt's start
    held_at: Mapped[datetime | None] = mapped_column()  # rate limit reached: waits for a digest
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(2000))
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
