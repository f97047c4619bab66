"""Schema migrations on a database that already holds data: 0005 makes the outbox's due and
latestNotify indexes partial, and what was pending before is still delivered after."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cse import migrate, outbox
from cse.storage import Storage
from tests.conftest import BACKENDS, postgres_or_skip
from tests.support.server import Database, make_database, tmpdir

NOW = 1_000_000.0


@pytest.fixture(params=BACKENDS)
def database(request) -> Iterator[Database]:
    if request.param == "postgresql":
        postgres_or_skip()
    db = make_database(request.param, tmpdir())
    yield db
    db.drop()
    shutil.rmtree(db.workdir, ignore_errors=True)


def add_notifications(conn: Connection) -> None:
    for state, latest_key in ((outbox.PENDING, None), (outbox.DELIVERED, None), (0, "sub|x")):
        outbox.add(
            conn, "http://127.0.0.1:9/", "sub1", {"m2m:sgn": {}}, NOW, state, NOW, latest_key
        )


def index_definitions(conn: Connection) -> dict[str, str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE name LIKE 'ix_notifications%'"
    else:
        query = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix_notifications%'"
        )
    return {name: sql.replace("(", "").replace(")", "") for name, sql in conn.execute(text(query))}


def in_storage(url: str, fn: Any, *args: Any) -> Any:
    async def main() -> Any:
        storage = Storage(url)
        try:
            return await storage.write(fn, *args)
        finally:
            await storage.close()

    return asyncio.run(main())


def test_upgrading_a_filled_outbox_keeps_what_is_pending(database: Database) -> None:
    config = migrate.alembic_config(database.url)
    command.upgrade(config, "0004")
    in_storage(database.url, add_notifications)
    command.upgrade(config, "0005")

    indexes = in_storage(database.url, index_definitions)
    assert "WHERE state = 0" in indexes["ix_notifications_due"]
    assert "WHERE latest_key IS NOT NULL" in indexes["ix_notifications_latest"]
    claimed = in_storage(database.url, outbox.claim_due, NOW + 1, 60.0, 10)
    assert [n.latest_key for n in claimed] == [None, "sub|x"]


def test_0005_can_be_undone_and_done_again(database: Database) -> None:
    config = migrate.alembic_config(database.url)
    command.upgrade(config, "0005")
    command.downgrade(config, "0004")
    assert "WHERE" not in in_storage(database.url, index_definitions)["ix_notifications_due"]
    command.upgrade(config, "0005")
    assert "WHERE" in in_storage(database.url, index_definitions)["ix_notifications_due"]


def test_claiming_due_notifications_searches_the_due_index(tmp_path) -> None:
    """With many settled rows the claim must not scan the outbox in id order."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cse.db'}"
    migrate.upgrade(url)

    def plan(conn: Connection) -> list[str]:
        row = {"target": "http://127.0.0.1:9/", "sub_ri": "s", "rqi": "r", "body": "{}"}
        row |= {"created": NOW, "next_attempt": NOW, "attempts": 0, "state": outbox.DELIVERED}
        conn.execute(outbox.notifications.insert(), [row] * 5000)
        statement = outbox.claim_statement(NOW, 60.0, 1000)
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        return [step[3] for step in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]

    steps = in_storage(url, plan)
    assert not any(step.startswith("SCAN notifications") for step in steps), steps
