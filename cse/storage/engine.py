"""Engines and transactions.

Repository code is plain synchronous SQLAlchemy Core run through `AsyncConnection.run_sync`,
so one transaction is one function and the event loop never blocks. On SQLite every write
goes through one connection that starts with BEGIN IMMEDIATE: writers queue in the pool
instead of failing with "database is locked", and reads run on their own connections (WAL).
"""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

T = TypeVar("T")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def _sqlite_engine(url: str, pool_size: int, begin: str | None) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        if begin:
            conn.exec_driver_sql(begin)

    return engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class Storage:
    """Runs repository functions in read or write transactions."""

    def __init__(self, url: str, pool_size: int = 8) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        if self.is_sqlite:
            self._writer = _sqlite_engine(url, pool_size=1, begin="BEGIN IMMEDIATE")
            self._reader = _sqlite_engine(url, pool_size=pool_size, begin=None)
        else:
            self._writer = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
            )
            self._reader = self._writer

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._reader.connect() as conn:
            return await conn.run_sync(fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._writer.begin() as conn:
            return await conn.run_sync(fn, *args)

    async def close(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
