"""Plant tree, idempotency keys, the readings store and its rollups.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument, PathString, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLLUPS = ("readings_1m", "readings_1h", "readings_1d")


def _plant() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", PathString, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="RESTRICT")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("attributes", JsonDocument, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("path", name="uq_assets_path"),
    )
    op.create_index("ix_assets_parent_id", "assets", ["parent_id"])
    op.create_table(
        "sensors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", PathString, nullable=False),
        sa.Column(
            "asset_id",
            sa.Integer,
            sa.ForeignKey("assets.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(32)),
        sa.Column("low_limit", sa.Float),
        sa.Column("high_limit", sa.Float),
        sa.Column("sampling_interval_s", sa.Float),
        sa.Column("detector", sa.String(64)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("path", name="uq_sensors_path"),
    )
    op.create_index("ix_sensors_asset_id", "sensors", ["asset_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(300), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", JsonDocument, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def _readings_sqlite() -> None:
    # Clustered on (sensor_id, ts): a range query for one sensor reads contiguous pages.
    op.execute(
        "CREATE TABLE readings (sensor_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
        "value REAL NOT NULL, PRIMARY KEY (sensor_id, ts)) WITHOUT ROWID"
    )
    for table in ROLLUPS:
        op.execute(
            f"CREATE TABLE {table} (sensor_id INTEGER NOT NULL, bucket INTEGER NOT NULL, "
            "min_value REAL NOT NULL, max_value REAL NOT NULL, sum_value REAL NOT NULL, "
            "count INTEGER NOT NULL, "
            "PRIMARY KEY (sensor_id, bucket)) WITHOUT ROWID"
        )


def _readings_postgresql() -> None:
    op.execute(
        "CREATE TABLE readings (sensor_id integer NOT NULL, ts timestamptz NOT NULL, "
        "value double precision NOT NULL, PRIMARY KEY (sensor_id, ts)) PARTITION BY RANGE (ts)"
    )
    for table in ROLLUPS:
        op.execute(
            f"CREATE TABLE {table} (sensor_id integer NOT NULL, bucket timestamptz NOT NULL, "
            "min_value double precision NOT NULL, max_value double precision NOT NULL, "
            "sum_value double precision NOT NULL, count bigint NOT NULL, "
            "PRIMARY KEY (sensor_id, bucket))"
        )


def upgrade() -> None:
    _plant()
    if op.get_bind().dialect.name == "postgresql":
        _readings_postgresql()
    else:
        _readings_sqlite()


def downgrade() -> None:
    for table in (*ROLLUPS, "readings", "idempotency_keys", "sensors", "assets"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE" if _is_pg() else f"DROP TABLE {table}")


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
