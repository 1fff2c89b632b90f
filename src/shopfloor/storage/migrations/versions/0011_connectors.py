"""Connectors: configurations managed through the API, their dead letters and last status.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument, UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("settings", JsonDocument, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "connector_dead_letters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
    )
    op.create_index("ix_connector_dead_letters_source", "connector_dead_letters", ["source"])
    op.create_index("ix_connector_dead_letters_topic", "connector_dead_letters", ["topic"])
    op.create_table(
        "connector_status",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("process", sa.String(128), nullable=False),
        sa.Column("state", JsonDocument, nullable=False),
        sa.Column("reported_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connector_status")
    op.drop_index("ix_connector_dead_letters_topic", table_name="connector_dead_letters")
    op.drop_index("ix_connector_dead_letters_source", table_name="connector_dead_letters")
    op.drop_table("connector_dead_letters")
    op.drop_table("connectors")
