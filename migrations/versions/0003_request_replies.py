"""Answers to requests by originator and request ID, so that a request delivered twice (MQTT
QoS 1) is executed once also when the copies reach different worker processes; and how many
events an outbox row stands for (latestNotify folds several into one).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_replies",
        sa.Column("originator", sa.String(255), primary_key=True),
        sa.Column("rqi", sa.String(255), primary_key=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("reply", sa.Text, nullable=True),
    )
    op.create_index("ix_request_replies_created", "request_replies", ["created"])
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("events", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("events")
    op.drop_table("request_replies")
