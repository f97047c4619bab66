"""SQL storage of the resource tree (SQLAlchemy 2, asyncio; SQLite or PostgreSQL)."""

from cse.storage.engine import Storage

__all__ = ["Storage"]
