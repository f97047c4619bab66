"""The resource tree: one row per resource, labels in their own table.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("ri", sa.String(255), primary_key=True),
        sa.Column("ty", sa.Integer, nullable=False),
        sa.Column("rn", sa.String(255), nullable=False),
        sa.Column("pi", sa.String(255), nullable=True),
        sa.Column("srn", sa.String(2048), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("ct", sa.Float, nullable=False),
        sa.Column("lt", sa.Float, nullable=False),
        sa.Column("et", sa.Float, nullable=True),
        sa.Column("expires", sa.Float, nullable=True),
        sa.Column("st", sa.BigInteger, nullable=True),
        sa.Column("cni", sa.BigInteger, nullable=True),
        sa.Column("cbs", sa.BigInteger, nullable=True),
        sa.Column("cs", sa.BigInteger, nullable=True),
        sa.Column("acpi", sa.Text, nullable=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.UniqueConstraint("srn", name="uq_resources_srn"),
    )
    op.create_index("ix_resources_pi_ty_st", "resources", ["pi", "ty", "st"])
    op.create_index("ix_resources_expires", "resources", ["expires"])
    op.create_index("ix_resources_ct", "resources", ["ct"])
    op.create_table(
        "labels",
        sa.Column(
            "ri",
            sa.String(255),
            sa.ForeignKey("resources.ri", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("lbl", sa.String(1024), primary_key=True),
    )
    op.create_index("ix_labels_lbl", "labels", ["lbl", "ri"])


def downgrade() -> None:
    op.drop_table("labels")
    op.drop_table("resources")
