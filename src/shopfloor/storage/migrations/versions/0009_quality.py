"""Quality: parts, characteristics, lots, the defect catalogue, inspections, measurements,
defects, and frozen SPC limits.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import JsonDocument, PathString, UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _id(column: str, table: str, ondelete: str) -> sa.Column:
    return sa.Column(
        column, sa.Integer, sa.ForeignKey(f"{table}.id", ondelete=ondelete), nullable=False
    )


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "parts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("part_number", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("revision", sa.String(50)),
        sa.Column("aql", sa.Float, nullable=False, server_default="1.0"),
        *_stamps(),
    )
    op.create_table(
        "characteristics",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("part_id", "parts", "RESTRICT"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(32)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("lsl", sa.Float),
        sa.Column("usl", sa.Float),
        sa.Column("target", sa.Float),
        *_stamps(),
        sa.UniqueConstraint("part_id", "name", name="uq_characteristics_part_name"),
    )
    op.create_index("ix_characteristics_part_id", "characteristics", ["part_id"])
    op.create_table(
        "lots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lot_number", sa.String(100), nullable=False, unique=True),
        _id("part_id", "parts", "RESTRICT"),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("line", PathString),
        *_stamps(),
    )
    op.create_index("ix_lots_part_id", "lots", ["part_id"])
    op.create_index("ix_lots_line", "lots", ["line"])
    op.create_table(
        "defect_types",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(50), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("default_severity", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("lot_id", "lots", "RESTRICT"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sample_size", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("inspector", sa.String(100)),
        sa.Column("started_at", UtcDateTime),
        sa.Column("completed_at", UtcDateTime),
        sa.Column("cancelled_at", UtcDateTime),
        sa.Column("disposition", sa.String(16)),
        sa.Column("reasons", JsonDocument, nullable=False),
        sa.Column("quality_score", sa.Float),
        sa.Column("plan", JsonDocument),
        sa.Column("nonconforming_units", sa.Integer),
        sa.Column("created_by", sa.String(100)),
        *_stamps(),
    )
    op.create_index("ix_inspections_lot_state", "inspections", ["lot_id", "state"])
    op.create_index("ix_inspections_completed_at", "inspections", ["completed_at"])
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("inspection_id", "inspections", "CASCADE"),
        _id("characteristic_id", "characteristics", "RESTRICT"),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit_serial", sa.String(100)),
        sa.Column("subgroup", sa.Integer),
        sa.Column("conforming", sa.Boolean),
        sa.Column("measured_at", UtcDateTime, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_measurements_inspection_id", "measurements", ["inspection_id"])
    # SPC reads a characteristic's measurements in time order.
    op.create_index(
        "ix_measurements_characteristic_measured",
        "measurements",
        ["characteristic_id", "measured_at"],
    )
    op.create_table(
        "defects",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("inspection_id", "inspections", "CASCADE"),
        sa.Column("defect_type", sa.String(50), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("location", sa.String(200)),
        sa.Column("note", sa.String(2000)),
        sa.Column("unit_serial", sa.String(100)),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_defects_inspection_id", "defects", ["inspection_id"])
    op.create_index("ix_defects_defect_type", "defects", ["defect_type"])
    op.create_index("ix_defects_created_at", "defects", ["created_at"])
    op.create_table(
        "spc_limits",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("characteristic_id", "characteristics", "CASCADE"),
        sa.Column("chart", sa.String(16), nullable=False),
        sa.Column("subgroup_size", sa.Integer, nullable=False),
        sa.Column("center", sa.Float, nullable=False),
        sa.Column("ucl", sa.Float, nullable=False),
        sa.Column("lcl", sa.Float, nullable=False),
        sa.Column("dispersion_center", sa.Float),
        sa.Column("dispersion_ucl", sa.Float),
        sa.Column("dispersion_lcl", sa.Float),
        sa.Column("baseline_count", sa.Integer, nullable=False),
        sa.Column("computed_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint(
            "characteristic_id", "chart", name="uq_spc_limits_characteristic_chart"
        ),
    )


def downgrade() -> None:
    for table in ("spc_limits", "defects", "measurements", "inspections", "defect_types"):
        op.drop_table(table)
    for table in ("lots", "characteristics", "parts"):
        op.drop_table(table)
