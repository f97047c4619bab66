"""The version of the access control policies, shared by all worker processes through the
database: every transaction that updates or deletes an accessControlPolicy bumps it, and a
worker whose cached policies were read at another version drops them."""

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from cse.storage.schema import policy_version

V = policy_version.c
_CURRENT = select(V.version).where(V.id == 1)
_BUMP = update(policy_version).where(V.id == 1).values(version=V.version + 1)


def current(conn: Connection) -> int:
    return conn.execute(_CURRENT).scalar_one()


def bump(conn: Connection) -> None:
    """Called inside the transaction that changes a policy: the new version becomes visible
    exactly when the change does."""
    conn.execute(_BUMP)
