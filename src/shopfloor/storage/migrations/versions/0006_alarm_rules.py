"""Alarm rules (with the built-in ones), notes, shelves, and the alarm lifecycle columns.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument, PathString, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Out of the box (CONTRACT): every sensor's limits and its detector's score raise alarms, and a
# sensor silent for 5 sampling intervals raises no_data. Admins can edit or disable them. The
# anomaly threshold sets the false-alarm rate, as scores are calibrated: 0.8 is about one reading
# in 60,000 (about once in 17 hours at 1 Hz) on a sensor behaving normally.
BUILT_IN_RULES = [
    ("limits", "threshold", {"deadband_percent": 2.0}, "warning"),
    ("anomaly", "anomaly", {"threshold": 0.8}, "warning"),
    ("no_data", "no_data", {"intervals": 5}, "warning"),
]


def upgrade() -> None:
    rules = op.create_table(
        "alarm_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("scope", PathString, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", JsonDocument, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("for_seconds", sa.Float, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        rules,
        [
            {
                "name": name,
                "scope": "",
                "kind": kind,
                "params": params,
                "severity": severity,
                "for_seconds": 0.0,
                "enabled": True,
                "created_at": now,
                "updated_at": now,
            }
            for name, kind, params, severity in BUILT_IN_RULES
        ],
    )
    op.create_table(
        "alarm_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "alarm_id", sa.Integer, sa.ForeignKey("alarms.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("text", sa.String(4000), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_alarm_notes_alarm_id", "alarm_notes", ["alarm_id"])
    op.create_table(
        "shelves",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope", PathString, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("suppressed", sa.Integer, nullable=False),
    )
    op.create_index("ix_shelves_ends_at", "shelves", ["ends_at"])
    with op.batch_alter_table("alarms") as alarms:
        alarms.add_column(
            sa.Column("rule_id", sa.Integer, sa.ForeignKey("alarm_rules.id", ondelete="SET NULL"))
        )
        alarms.add_column(sa.Column("resolution", sa.String(16)))
        alarms.add_column(sa.Column("cleared_at", UtcDateTime))
        alarms.add_column(sa.Column("cleared_reading_us", sa.BigInteger))
        alarms.add_column(
            sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0")
        )
        alarms.add_column(sa.Column("escalated_at", UtcDateTime))
        alarms.add_column(sa.Column("last_notified_at", UtcDateTime))
        alarms.add_column(sa.Column("closed_at", UtcDateTime))
        alarms.create_index("ix_alarms_rule_id", ["rule_id"])
        alarms.create_index("ix_alarms_state", ["state"])


def downgrade() -> None:
    with op.batch_alter_table("alarms") as alarms:
        alarms.drop_index("ix_alarms_state")
        alarms.drop_index("ix_alarms_rule_id")
        for column in (
            "closed_at",
            "last_notified_at",
            "escalated_at",
            "escalation_level",
            "cleared_reading_us",
            "cleared_at",
            "resolution",
            "rule_id",
        ):
            alarms.drop_column(column)
    op.drop_table("shelves")
    op.drop_table("alarm_notes")
    op.drop_table("alarm_rules")
