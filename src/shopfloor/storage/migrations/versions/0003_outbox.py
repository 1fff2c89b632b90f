"""The transactional outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", JsonDocument, nullable=True),
        sa.Column("blob", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        # Envelope ids derive from row ids: SQLite must never hand out a deleted id again.
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("outbox")
