"""Alarms, with at most one not closed per (sensor, rule).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOT_CLOSED = sa.text("state <> 'closed'")


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "sensor_id",
            sa.Integer,
            sa.ForeignKey("sensors.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("score", sa.Float),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_reading_us", sa.BigInteger, nullable=False),
        sa.Column("acknowledged_by", sa.String(100)),
        sa.Column("acknowledged_at", UtcDateTime),
        sa.Column("resolved_by", sa.String(100)),
        sa.Column("resolved_at", UtcDateTime),
        sa.Column("assignee", sa.String(100)),
    )
    op.create_index("ix_alarms_sensor_id", "alarms", ["sensor_id"])
    # Concurrent workers can never open a second alarm for the same condition.
    op.create_index(
        "uq_alarms_open_per_rule",
        "alarms",
        ["sensor_id", "rule"],
        unique=True,
        sqlite_where=NOT_CLOSED,
        postgresql_where=NOT_CLOSED,
    )


def downgrade() -> None:
    op.drop_table("alarms")
