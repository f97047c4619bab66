"""Engines and transactions.

Repository code is plain synchronous SQLAlchemy Core on a `Connection`; one transaction is
one function. How it runs depends on the database:

* PostgreSQL: the asyncio engine (asyncpg) runs the function through
  `AsyncConnection.run_sync`; statements await the server, the event loop never blocks.
* SQLite: the asyncio driver (aiosqlite) hops to a thread for every statement, which costs
  more than the statement itself (measured: ~1.6 ms per two-query retrieve, the loop busy
  with cross-thread wake-ups). So SQLite runs on the synchronous driver instead: point
  reads run inline (WAL readers never wait for the writer and a warm read takes tens of
  microseconds), scans run on a reader thread pool, and writes go to one writer that
  commits everything queued so far as one transaction (group commit): on the event loop's
  thread when this process is the database's only writer, else on a writer thread. A batch
  whose transaction fails is rolled back and its jobs re-run one per transaction, so one bad
  request never takes others down with it. The writer never checkpoints the WAL itself:
  a checkpoint syncs the WAL and the database file, and on the writer it stalled every
  commit behind it for 5-20 ms several times a second. A checkpointer thread of its own
  does it instead, shortly after commits, while the writer goes on appending.
"""

import asyncio
import contextlib
import fcntl
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from cse.storage import subscription_cache
from cse.storage.touched import take as take_touched

T = TypeVar("T")
ChangeListener = Callable[[set[str]], None]
log = logging.getLogger("citycse.storage")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-65536",
)
MAX_BATCH = 256
CHECKPOINT_INTERVAL_SECONDS = 0.2
# A backstop only: if checkpoints fall behind, the writer checkpoints at this WAL size.
WRITER_AUTOCHECKPOINT_PAGES = 20_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sync_sqlite_url(url: str) -> str:
    return make_url(url).set(drivername="sqlite").render_as_string(hide_password=False)


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    engine = create_engine(
        sync_sqlite_url(url),
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"check_same_thread": False, "isolation_level": None},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return engine


def _rollback(conn: Connection) -> None:
    """Roll back whatever is open; SQLite may already have ended a failed transaction."""
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is not None and dbapi_connection.in_transaction:
        dbapi_connection.rollback()
    conn.rollback()


class _WriteJob:
    __slots__ = ("fn", "args", "future", "loop", "result", "error")

    def __init__(self, fn: Callable, args: tuple, loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.args = args
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()
        self.result: Any = None
        self.error: BaseException | None = None


def _settle(jobs: list[_WriteJob], touched: set[str], changed: "ChangeListener") -> None:
    if touched:
        changed(touched)
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


class WalCheckpointer:
    """A thread that copies committed WAL frames into the database file (a PASSIVE
    checkpoint: it never waits for, nor blocks, readers or the writer), at most every
    `CHECKPOINT_INTERVAL_SECONDS` and only after something was committed."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._committed = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._committed.set()

    def close(self) -> None:
        self._closed.set()
        self._committed.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with self._engine.connect() as conn:
            while True:
                self._committed.wait()
                if self._closed.wait(CHECKPOINT_INTERVAL_SECONDS):
                    return
                self._committed.clear()
                try:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except Exception:
                    log.exception("event=wal_checkpoint_failed")


class _BatchCommitter:
    """Commits batches of write jobs on its own connection: a batch is one transaction, and a
    batch that fails is rolled back and its jobs run again one per transaction."""

    def __init__(self, engine: Engine, changed: "ChangeListener") -> None:
        self._engine = engine
        self._changed = changed
        self._checkpointer = WalCheckpointer(engine)

    def _open(self) -> Connection:
        conn = self._engine.connect()
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
        return conn

    def _commit(self, conn: Connection, batch: list[_WriteJob]) -> set[str]:
        """Commit a batch; returns the resources it touched."""
        self._commit_batch(conn, batch)
        self._checkpointer.committed()
        subscription_cache.transaction_ended(conn)
        return take_touched(conn)

    def _commit_batch(self, conn: Connection, batch: list[_WriteJob]) -> None:
        if len(batch) > 1:
            try:
                self._transaction(conn, batch, raise_errors=True)
                return
            except Exception:
                log.debug("event=batch_retry size=%d", len(batch))
        for job in batch:
            try:
                self._transaction(conn, [job], raise_errors=False)
            except Exception as exc:  # commit itself failed
                job.error = exc

    @staticmethod
    def _transaction(conn: Connection, jobs: list[_WriteJob], raise_errors: bool) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                job.error = None
                try:
                    job.result = job.fn(conn, *job.args)
                except Exception as exc:
                    if raise_errors:
                        raise
                    job.error = exc
                    _rollback(conn)
                    return
            conn.exec_driver_sql("COMMIT")
            conn.commit()
        except BaseException:
            _rollback(conn)
            raise


class LoopWriter(_BatchCommitter):
    """The writer of a process that is the database's only writer (one worker): it commits
    on the event loop's own thread, everything submitted since its last batch as one
    transaction, in the loop's next turn.

    A writer thread runs in parallel with the loop only while SQLite itself runs, which is a
    small part of a write; the rest of the time the two take turns on the GIL, and every
    statement hands it over twice, each time a thread wake-up. On the loop there is nobody
    to hand it to. It holds the subscriptions of resources in memory
    (cse/storage/subscription_cache.py): nobody else changes them."""

    def __init__(self, engine: Engine, changed: "ChangeListener") -> None:
        super().__init__(engine, changed)
        self._conn = self._open()
        subscription_cache.keep_on(self._conn)
        self._pending: list[_WriteJob] = []
        self._scheduled = False

    def submit(self, fn: Callable[..., T], args: tuple) -> "asyncio.Future[T]":
        job = _WriteJob(fn, args, asyncio.get_running_loop())
        self._pending.append(job)
        if not self._scheduled:
            self._scheduled = True
            job.loop.call_soon(self._commit_pending)
        return job.future

    def close(self) -> None:
        while self._pending:
            self._commit_pending()
        self._conn.close()
        self._checkpointer.close()

    def _commit_pending(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not batch:
            return
        if self._pending:
            self._scheduled = True
            batch[0].loop.call_soon(self._commit_pending)
        touched = self._commit(self._conn, batch)
        _settle(batch, touched, self._changed)


class SQLiteWriter(_BatchCommitter):
    """The writer of one of several processes on the database (several workers): a thread
    that owns the write connection and commits queued jobs in batches, holding a file lock
    that the writers of the other processes queue on."""

    def __init__(self, engine: Engine, lock_path: Path | None, changed: "ChangeListener") -> None:
        super().__init__(engine, changed)
        # Writers of several processes queue on this file lock rather than in SQLite's busy
        # handler, which sleeps in steps of up to 100 ms and made p99 explode with 2 workers.
        self._lock_file = lock_path.open("a") if lock_path is not None else None
        self._queue: queue.SimpleQueue[_WriteJob | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], args: tuple) -> "asyncio.Future[T]":
        job = _WriteJob(fn, args, asyncio.get_running_loop())
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._checkpointer.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def _next_batch(self) -> list[_WriteJob] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)
                break
            batch.append(job)
        return batch

    def _run(self) -> None:
        with self._open() as conn:
            while (batch := self._next_batch()) is not None:
                touched = self._commit_locked(conn, batch)
                by_loop: dict[asyncio.AbstractEventLoop, list[_WriteJob]] = {}
                for job in batch:
                    by_loop.setdefault(job.loop, []).append(job)
                for loop, jobs in by_loop.items():
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                        loop.call_soon_threadsafe(_settle, jobs, touched, self._changed)

    def _commit_locked(self, conn: Connection, batch: list[_WriteJob]) -> set[str]:
        """Commit a batch, holding the cross-process write lock while it runs."""
        lock = self._lock_file
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return self._commit(conn, batch)
        finally:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _write_lock_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database + ".writelock")


class Storage:
    """Runs repository functions as reads, scans or write transactions."""

    def __init__(self, url: str, pool_size: int = 8, sole_writer: bool = False) -> None:
        """`sole_writer`: no other process writes to this database while this one runs
        (one worker). On SQLite its writes are then committed on the event loop's thread
        (LoopWriter), else on a writer thread that takes a file lock (SQLiteWriter)."""
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self._change_listeners: list[ChangeListener] = []
        if self.is_sqlite:
            self._sync_engine = _sqlite_engine(url, pool_size=pool_size + 2)
            self._inline = self._sync_engine.connect()
            self._scanners = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-scan")
            self._writer: LoopWriter | SQLiteWriter
            if sole_writer:
                self._writer = LoopWriter(self._sync_engine, self._changed)
            else:
                self._writer = SQLiteWriter(self._sync_engine, _write_lock_path(url), self._changed)
        else:
            # A pool that covers the usual concurrency: overflow connections are closed on
            # check-in, and reconnecting on every burst cost more than the queries.
            self._async_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size // 2
            )
            # Reads need no transaction; without AUTOCOMMIT every read paid BEGIN + ROLLBACK.
            self._autocommit_engine = self._async_engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )

    def on_change(self, listener: ChangeListener) -> None:
        """Call `listener` with the IDs of the resources that each write transaction of this
        process changed, after it committed and before its writer goes on."""
        self._change_listeners.append(listener)

    def _changed(self, touched: set[str]) -> None:
        for listener in self._change_listeners:
            listener(touched)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """A short read (point lookups)."""
        if self.is_sqlite:
            try:
                return fn(self._inline, *args)
            finally:
                self._inline.rollback()
        async with self._autocommit_engine.connect() as conn:
            return await conn.run_sync(fn, *args)

    async def scan(self, fn: Callable[..., T], *args: Any) -> T:
        """A read that may touch many rows (discovery, child listings)."""
        if self.is_sqlite:
            return await asyncio.get_running_loop().run_in_executor(
                self._scanners, self._scan_sync, fn, args
            )
        return await self.read(fn, *args)

    def _scan_sync(self, fn: Callable[..., T], args: tuple) -> T:
        with self._sync_engine.connect() as conn:
            return fn(conn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """A transaction: committed when the function returns, rolled back if it raises."""
        if self.is_sqlite:
            return await self._writer.submit(fn, args)
        touched: set[str] = set()
        try:
            async with self._async_engine.begin() as conn:
                try:
                    return await conn.run_sync(fn, *args)
                finally:
                    touched = take_touched(conn.sync_connection)
        finally:
            if touched:  # after the commit (or the rollback)
                self._changed(touched)

    async def close(self) -> None:
        if self.is_sqlite:
            self._writer.close()
            self._scanners.shutdown(wait=True)
            self._inline.close()
            self._sync_engine.dispose()
        else:
            await self._async_engine.dispose()
