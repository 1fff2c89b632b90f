"""Anomaly scores kept for charts: each sensor's highest detector score per minute.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly_scores_1m",
        sa.Column(
            "sensor_id",
            sa.Integer,
            sa.ForeignKey(
                "sensors.id", ondelete="CASCADE", name="fk_anomaly_scores_1m_sensor_id_sensors"
            ),
            nullable=False,
        ),
        sa.Column("bucket_us", sa.BigInteger, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("sensor_id", "bucket_us", name="pk_anomaly_scores_1m"),
        # Clustered on (sensor, minute) like the readings' rollups: a month is contiguous pages.
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("anomaly_scores_1m")
