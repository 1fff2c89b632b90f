"""Notifications: channels, subscriptions and deliveries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument, PathString, UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("config", JsonDocument, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("rate_limit_messages", sa.Integer, nullable=False, server_default="10"),
        sa.Column("rate_limit_window_s", sa.Float, nullable=False, server_default="60"),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("scope", PathString, nullable=False),
        sa.Column("min_severity", sa.String(16), nullable=False),
        sa.Column("events", JsonDocument, nullable=False),
        sa.Column("quiet_hours", JsonDocument),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_subscriptions_channel_id", "subscriptions", ["channel_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "subscription_id",
            sa.Integer,
            sa.ForeignKey("subscriptions.id", ondelete="SET NULL"),
        ),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("alarm_id", sa.Integer),
        sa.Column("path", PathString),
        sa.Column("severity", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("attempted_at", UtcDateTime),
        sa.Column("held_at", UtcDateTime),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", UtcDateTime),
        sa.Column("last_error", sa.String(2000)),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("digest_id", sa.Integer, sa.ForeignKey("deliveries.id", ondelete="SET NULL")),
        sa.Column("payload", JsonDocument, nullable=False),
        sa.UniqueConstraint("event_id", "channel_id", name="uq_deliveries_event_channel"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_channel_attempted", "deliveries", ["channel_id", "attempted_at"])
    op.create_index("ix_deliveries_subscription_id", "deliveries", ["subscription_id"])
    op.create_index("ix_deliveries_alarm_id", "deliveries", ["alarm_id"])
    op.create_index("ix_deliveries_digest_id", "deliveries", ["digest_id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("subscriptions")
    op.drop_table("channels")
