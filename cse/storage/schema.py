"""The SQL schema. It is created and changed only by the Alembic migrations in `migrations/`;
this module mirrors the newest migration so that queries can be built from it."""

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

resources = Table(
    "resources",
    metadata,
    Column("ri", String(255), primary_key=True),
    Column("ty", Integer, nullable=False),
    Column("rn", String(255), nullable=False),
    Column("pi", String(255), nullable=True),
    # Structured path without leading slash, e.g. "cse-in/ae1/cnt1": unique, so a name
    # clash among siblings fails atomically in the database.
    Column("srn", String(2048), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("owner", String(255), nullable=False),
    Column("ct", Float, nullable=False),
    Column("lt", Float, nullable=False),
    Column("et", Float, nullable=True),
    # Effective expiry: `et`, or earlier when a container's `mia` says so.
    Column("expires", Float, nullable=True),
    Column("st", BigInteger, nullable=True),
    Column("cni", BigInteger, nullable=True),
    Column("cbs", BigInteger, nullable=True),
    Column("cs", BigInteger, nullable=True),
    Column("acpi", Text, nullable=True),
    Column("doc", Text, nullable=False),
    UniqueConstraint("srn", name="uq_resources_srn"),
)

Index("ix_resources_pi_ty_st", resources.c.pi, resources.c.ty, resources.c.st)
Index("ix_resources_expires", resources.c.expires)
Index("ix_resources_ct", resources.c.ct)

labels = Table(
    "labels",
    metadata,
    Column("ri", String(255), ForeignKey("resources.ri", ondelete="CASCADE"), primary_key=True),
    Column("lbl", String(1024), primary_key=True),
)

Index("ix_labels_lbl", labels.c.lbl, labels.c.ri)
