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
    text,
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

# The outbox: one row per notification to one target, written in the transaction of the
# change that caused it, delivered (and retried) after commit.
notifications = Table(
    "notifications",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("target", String(1024), nullable=False),
    Column("sub_ri", String(255), nullable=True),
    Column("rqi", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("next_attempt", Float, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("state", Integer, nullable=False),
    Column("latest_key", String(1300), nullable=True),
    Column("batch_key", String(1300), nullable=True),
    Column("events", Integer, nullable=False, server_default="1"),
    Column("finished", Float, nullable=True),
    Column("error", Text, nullable=True),
)

# Partial indexes (migration 0005): the due index holds only pending rows, and a query uses
# it only when it says `state = 0` literally (cse/outbox.py, IS_PENDING).
PENDING_ONLY = text("state = 0")
WITH_LATEST_KEY = text("latest_key IS NOT NULL")
Index(
    "ix_notifications_due",
    notifications.c.state,
    notifications.c.next_attempt,
    sqlite_where=PENDING_ONLY,
    postgresql_where=PENDING_ONLY,
)
Index("ix_notifications_target", notifications.c.target, notifications.c.id)
Index(
    "ix_notifications_latest",
    notifications.c.latest_key,
    sqlite_where=WITH_LATEST_KEY,
    postgresql_where=WITH_LATEST_KEY,
)

notification_counters = Table(
    "notification_counters",
    metadata,
    Column("sub_ri", String(255), primary_key=True),
    Column("delivered", BigInteger, nullable=False, default=0),
    Column("retried", BigInteger, nullable=False, default=0),
    Column("dropped", BigInteger, nullable=False, default=0),
)

request_replies = Table(
    "request_replies",
    metadata,
    Column("originator", String(255), primary_key=True),
    Column("rqi", String(255), primary_key=True),
    Column("created", Float, nullable=False),
    Column("reply", Text, nullable=True),
)

Index("ix_request_replies_created", request_replies.c.created)

# One row (id 1): bumped in the transaction of every accessControlPolicy update or delete,
# read by each worker to know when its cached policies are out of date (cse/access.py).
policy_version = Table(
    "policy_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)
