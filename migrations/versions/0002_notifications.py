"""The notification outbox and per-subscription delivery counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("sub_ri", sa.String(255), nullable=True),
        sa.Column("rqi", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("next_attempt", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("latest_key", sa.String(1300), nullable=True),
        sa.Column("batch_key", sa.String(1300), nullable=True),
        sa.Column("finished", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_notifications_due", "notifications", ["state", "next_attempt"])
    op.create_index("ix_notifications_target", "notifications", ["target", "id"])
    op.create_index("ix_notifications_latest", "notifications", ["latest_key"])
    op.create_table(
        "notification_counters",
        sa.Column("sub_ri", sa.String(255), primary_key=True),
        sa.Column("delivered", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("retried", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("dropped", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("notification_counters")
    op.drop_table("notifications")
