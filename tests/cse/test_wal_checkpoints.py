"""SQLite's WAL is copied into the database file by a thread of its own, not by the writer."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from cse.storage.engine import CHECKPOINT_INTERVAL_SECONDS, Storage

# The writer of a sole writing process commits on the event loop, the others on a thread.
WRITERS = pytest.mark.parametrize("sole_writer", [True, False], ids=["loop", "thread"])


def _write_rows(conn, count: int) -> None:  # noqa: ANN001
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x TEXT)")
    for _ in range(count):
        conn.exec_driver_sql("INSERT INTO t VALUES (?)", ("x" * 500,))


def _backfill(path: Path) -> tuple[int, int]:
    """(frames in the WAL, frames already copied into the database), without copying."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # A PASSIVE checkpoint that finds the work done reports log == checkpointed.
        _, log_frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return log_frames, copied
    finally:
        conn.close()


@WRITERS
def test_committed_frames_are_checkpointed_soon_after_the_commit(
    tmp_path: Path, sole_writer: bool
) -> None:
    path = tmp_path / "cse.db"

    async def scenario() -> float:
        storage = Storage(f"sqlite+aiosqlite:///{path}", sole_writer=sole_writer)
        try:
            for _ in range(20):
                await storage.write(_write_rows, 50)
            await asyncio.sleep(CHECKPOINT_INTERVAL_SECONDS * 4)
            log_frames, copied = _backfill(path)
            assert log_frames > 0 and copied == log_frames
        finally:
            started = time.monotonic()
            await storage.close()
        return time.monotonic() - started

    closing = asyncio.run(scenario())
    assert closing < 2.0, f"closing the storage took {closing:.1f} s"


@WRITERS
def test_the_writer_does_not_checkpoint_by_itself(tmp_path: Path, sole_writer: bool) -> None:
    path = tmp_path / "cse.db"

    async def writer_setting() -> int:
        storage = Storage(f"sqlite+aiosqlite:///{path}", sole_writer=sole_writer)
        try:
            return await storage.write(
                lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
            )
        finally:
            await storage.close()

    assert asyncio.run(writer_setting()) >= 10_000


@WRITERS
def test_closing_right_after_a_commit_is_prompt(tmp_path: Path, sole_writer: bool) -> None:
    async def scenario() -> float:
        storage = Storage(f"sqlite+aiosqlite:///{tmp_path / 'cse.db'}", sole_writer=sole_writer)
        await storage.write(_write_rows, 1)
        started = time.monotonic()
        await storage.close()
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 2.0


def test_the_loop_writer_commits_what_is_still_queued_when_it_closes(tmp_path: Path) -> None:
    path = tmp_path / "cse.db"

    async def scenario() -> None:
        storage = Storage(f"sqlite+aiosqlite:///{path}", sole_writer=True)
        await storage.write(_write_rows, 1)
        queued = asyncio.ensure_future(storage.write(_write_rows, 3))
        await asyncio.sleep(0)  # submitted, not yet committed
        await storage.close()
        await queued

    asyncio.run(scenario())
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone()[0] == 4
