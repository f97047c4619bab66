"""Partial indexes on the notification outbox: the due index holds only pending rows and the
latestNotify index only rows that have a `latest_key`. Every notification used to add an
entry to both, and moving it to "delivered" moved its due entry; most rows need neither.
The due index keeps `state` as its first column: without it SQLite's planner preferred to
scan the whole table in id order for the claim query.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING_ONLY = sa.text("state = 0")
WITH_LATEST_KEY = sa.text("latest_key IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_notifications_due", "notifications")
    op.drop_index("ix_notifications_latest", "notifications")
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["state", "next_attempt"],
        sqlite_where=PENDING_ONLY,
        postgresql_where=PENDING_ONLY,
    )
    op.create_index(
        "ix_notifications_latest",
        "notifications",
        ["latest_key"],
        sqlite_where=WITH_LATEST_KEY,
        postgresql_where=WITH_LATEST_KEY,
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_due", "notifications")
    op.drop_index("ix_notifications_latest", "notifications")
    op.create_index("ix_notifications_due", "notifications", ["state", "next_attempt"])
    op.create_index("ix_notifications_latest", "notifications", ["latest_key"])
