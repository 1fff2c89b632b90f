"""SPC alarms: an alarm belongs to a sensor or to a quality characteristic.

``alarms.sensor_id`` becomes nullable; ``alarms.characteristic_id`` (deleted with its
characteristic) and ``alarms.subject_path`` (the path an alarm without a sensor is filed under)
are added, with at most one alarm not closed per (characteristic, rule), like the one per
(sensor, rule): concurrent SPC workers can never open two for one signal. A check keeps every
alarm on exactly one of a sensor and a characteristic.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from shopfloor.storage.base import PathString

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOT_CLOSED = sa.text("state <> 'closed'")
ONE_SUBJECT = "(sensor_id IS NULL) <> (characteristic_id IS NULL)"


def upgrade() -> None:
    with op.batch_alter_table("alarms") as alarms:
        alarms.alter_column("sensor_id", existing_type=sa.Integer, nullable=True)
        alarms.add_column(
            sa.Column(
                "characteristic_id",
                sa.Integer,
                sa.ForeignKey(
                    "characteristics.id",
                    ondelete="CASCADE",
                    name="fk_alarms_characteristic_id_characteristics",
                ),
            )
        )
        alarms.add_column(sa.Column("subject_path", PathString))
        alarms.create_index("ix_alarms_characteristic_id", ["characteristic_id"])
        alarms.create_index("ix_alarms_subject_path", ["subject_path"])
        alarms.create_check_constraint(op.f("ck_alarms_one_subject"), sa.text(ONE_SUBJECT))
    op.create_index(
        "uq_alarms_open_per_characteristic_rule",
        "alarms",
        ["characteristic_id", "rule"],
        unique=True,
        sqlite_where=NOT_CLOSED,
        postgresql_where=NOT_CLOSED,
    )


def downgrade() -> None:
    # Alarms without a sensor cannot survive the NOT NULL coming back.
    op.execute(sa.text("DELETE FROM alarms WHERE sensor_id IS NULL"))
    op.drop_index("uq_alarms_open_per_characteristic_rule", table_name="alarms")
    with op.batch_alter_table("alarms") as alarms:
        alarms.drop_constraint(op.f("ck_alarms_one_subject"), type_="check")
        alarms.drop_index("ix_alarms_subject_path")
        alarms.drop_index("ix_alarms_characteristic_id")
        alarms.drop_column("subject_path")
        alarms.drop_column("characteristic_id")
        alarms.alter_column("sensor_id", existing_type=sa.Integer, nullable=False)
