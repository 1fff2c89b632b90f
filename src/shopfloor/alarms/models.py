"""Alarms, their rules, notes and shelves.

An alarm belongs to a sensor (threshold, rate_of_change, anomaly, no_data), to a quality
characteristic (``spc``), or to an asset (``failure_risk`` and ``drift``, raised from its
models); ``subject_path`` is the path an alarm without a sensor is filed under (the line its
measurements were made on, the asset's path). At most one alarm that is not closed per
(subject, rule), enforced by the database: concurrent workers can never open two for the same
condition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.quality import models as quality_models  # noqa: F401  (characteristics table)
from shopfloor.storage.base import Base, JsonDocument, PathString

NOT_CLOSED = text("state <> 'closed'")
ONE_SUBJECT = (
    "(CASE WHEN sensor_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN characteristic_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN asset_id IS NULL THEN 0 ELSE 1 END) = 1"
)


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
        Index(
            "uq_alarms_open_per_characteristic_rule",
            "characteristic_id",
            "rule",
            unique=True,
            sqlite_where=NOT_CLOSED,
            postgresql_where=NOT_CLOSED,
        ),
        Index(
            "uq_alarms_open_per_asset_rule",
            "asset_id",
            "rule",
            unique=True,
            sqlite_where=NOT_CLOSED,
            postgresql_where=NOT_CLOSED,
        ),
        Index("ix_alarms_state", "state"),
        # Exactly one subject: a sensor, a characteristic or an asset.
        CheckConstraint(ONE_SUBJECT, name="one_subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensors.id", ondelete="CASCADE"), index=True
    )
    characteristic_id: Mapped[int | None] = mapped_column(
        ForeignKey("characteristics.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True
    )
    # Where an alarm without a sensor is filed (lists filter ``under`` it); None for sensors,
    # whose path is the sensor's.
    subject_path: Mapped[str | None] = mapped_column(PathString, index=True)
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
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("alarm_rules.id", ondelete="SET NULL"), index=True
    )
    # "person" or "condition": who resolved it.
    resolution: Mapped[str | None] = mapped_column(String(16))
    # When the condition was last seen to clear (wall clock); None while it holds.
    cleared_at: Mapped[datetime | None] = mapped_column()
    # The reading time at which it cleared, for resolving by reading time.
    cleared_reading_us: Mapped[int | None] = mapped_column(BigInteger)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column()
    last_notified_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class AlarmRule(Base):
    """A condition that raises alarms on the sensors under ``scope`` ("" is the whole plant)."""

    __tablename__ = "alarm_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(PathString, default="")
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    severity: Mapped[str] = mapped_column(String(16))
    for_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class AlarmNote(Base):
    __tablename__ = "alarm_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(String(4000))
    created_at: Mapped[datetime] = mapped_column()


class Shelf(Base):
    """A maintenance window: no alarm opens under ``scope`` from ``starts_at`` to ``ends_at``."""

    __tablename__ = "shelves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(PathString)
    reason: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column()
    # Occurrences that would have opened or counted on an alarm while shelved.
    suppressed: Mapped[int] = mapped_column(Integer, default=0)


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
