"""Which resources a write transaction changed, so that the process can drop what it
cached about them once the transaction committed.

Repository functions note, on the transaction's connection, every resource whose row or
children they insert, update or delete; the storage takes the notes after the commit (or
the rollback: dropping a cache entry for nothing only costs a read) and hands them to its
listeners before the writer learns that its transaction is done."""

from sqlalchemy.engine import Connection

_KEY = "citycse.touched"


def note(conn: Connection, *ris: str | None) -> None:
    touched: set[str] = conn.info.setdefault(_KEY, set())
    touched.update(ri for ri in ris if ri is not None)


def take(conn: Connection) -> set[str]:
    """The notes of the transaction that just ended; the connection starts afresh."""
    return conn.info.pop(_KEY, None) or set()
