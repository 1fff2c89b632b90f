"""Pipeline stage state, checkpointed so that a restarted stage resumes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stage_state",
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("state", JsonDocument, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("stage", "key", name="pk_stage_state"),
    )


def downgrade() -> None:
    op.drop_table("stage_state")
