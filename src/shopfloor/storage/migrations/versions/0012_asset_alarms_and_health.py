"""Asset alarms and asset health: what an asset's models say about it.

``alarms.asset_id`` (deleted with its asset) makes an asset the third kind of alarm subject,
for failure-risk and drift alarms, with at most one alarm not closed per (asset, rule); the
check now keeps every alarm on exactly one of a sensor, a characteristic and an asset.
``asset_health`` holds the latest failure risk and remaining useful life the pipeline worked
out for each asset.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument, UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NOT_CLOSED = sa.text("state <> 'closed'")
TWO_SUBJECTS = "(sensor_id IS NULL) <> (characteristic_id IS NULL)"
THREE_SUBJECTS = (
    "(CASE WHEN sensor_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN characteristic_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN asset_id IS NULL THEN 0 ELSE 1 END) = 1"
)


def upgrade() -> None:
    with op.batch_alter_table("alarms") as alarms:
        alarms.drop_constraint(op.f("ck_alarms_one_subject"), type_="check")
        alarms.add_column(
            sa.Column(
                "asset_id",
                sa.Integer,
                sa.ForeignKey("assets.id", ondelete="CASCADE", name="fk_alarms_asset_id_assets"),
            )
        )
        alarms.create_index("ix_alarms_asset_id", ["asset_id"])
        alarms.create_check_constraint(op.f("ck_alarms_one_subject"), sa.text(THREE_SUBJECTS))
    op.create_index(
        "uq_alarms_open_per_asset_rule",
        "alarms",
        ["asset_id", "rule"],
        unique=True,
        sqlite_where=NOT_CLOSED,
        postgresql_where=NOT_CLOSED,
    )
    op.create_table(
        "asset_health",
        sa.Column(
            "asset_id",
            sa.Integer,
            sa.ForeignKey("assets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("failure_risk", sa.Float),
        sa.Column("rul", sa.Float),
        sa.Column("models", JsonDocument, nullable=False),
        sa.Column("problems", JsonDocument, nullable=False),
        sa.Column("updated_at", UtcDateTime),
        sa.Column("computed_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("asset_health")
    # Asset alarms cannot survive the check going back to two subjects.
    op.execute(sa.text("DELETE FROM alarms WHERE asset_id IS NOT NULL"))
    op.drop_index("uq_alarms_open_per_asset_rule", table_name="alarms")
    with op.batch_alter_table("alarms") as alarms:
        alarms.drop_constraint(op.f("ck_alarms_one_subject"), type_="check")
        alarms.drop_index("ix_alarms_asset_id")
        alarms.drop_column("asset_id")
        alarms.create_check_constraint(op.f("ck_alarms_one_subject"), sa.text(TWO_SUBJECTS))
