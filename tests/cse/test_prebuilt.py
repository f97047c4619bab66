"""Prebuilt row inserts on both engines: every pattern of NULL columns is stored as given
(SQLite writes a None as a literal NULL in the SQL), generated ids come back, and a NULL in
a NOT NULL column fails as it would with a bound None."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cse import migrate
from cse.storage.prebuilt import RowInsert
from cse.storage.schema import notifications, resources
from tests.conftest import BACKENDS, postgres_or_skip
from tests.cse.test_migrations import in_storage
from tests.support.server import Database, make_database, tmpdir

NOTIFICATIONS = RowInsert(notifications, notifications.c.id)
RESOURCES = RowInsert(resources)
NULLABLE = ("sub_ri", "lease_until", "latest_key", "batch_key", "finished", "error")


@pytest.fixture(params=BACKENDS)
def database(request) -> Iterator[Database]:
    if request.param == "postgresql":
        postgres_or_skip()
    db = make_database(request.param, tmpdir())
    migrate.upgrade(db.url)
    yield db
    db.drop()
    shutil.rmtree(db.workdir, ignore_errors=True)


def notification_row(number: int, nulls: tuple[str, ...]) -> tuple:
    row = {
        "target": f"http://127.0.0.1:9/{number}",
        "sub_ri": "sub1",
        "rqi": f"r{number}",
        "body": "{}",
        "created": 1.5,
        "next_attempt": 2.5,
        "lease_until": 3.5,
        "attempts": 0,
        "state": 0,
        "latest_key": "sub1|t",
        "batch_key": "sub1|b",
        "events": 1,
        "finished": 4.5,
        "error": "boom",
    }
    row |= dict.fromkeys(nulls)
    return tuple(row[name] for name in NOTIFICATIONS.columns)


def every_null_pattern() -> list[tuple[str, ...]]:
    return [
        nulls
        for size in range(len(NULLABLE) + 1)
        for nulls in itertools.combinations(NULLABLE, size)
    ]


def test_rows_with_any_null_columns_are_stored_as_given(database: Database) -> None:
    patterns = every_null_pattern()
    rows = [notification_row(number, nulls) for number, nulls in enumerate(patterns)]

    def insert_all(conn: Connection) -> list[int | None]:
        return [NOTIFICATIONS.run(conn, row) for row in rows]

    def stored(conn: Connection) -> list[tuple]:
        return [tuple(r) for r in conn.execute(select(notifications).order_by(notifications.c.id))]

    ids = in_storage(database.url, insert_all)
    assert len(set(ids)) == len(rows) == 64
    assert sorted(ids) == ids
    assert in_storage(database.url, stored) == [(i, *row) for i, row in zip(ids, rows, strict=True)]


def test_a_row_without_a_generated_id_is_inserted(database: Database) -> None:
    row = {"ri": "cin1", "ty": 4, "rn": "cin1", "pi": None, "srn": "cse-in/cin1", "depth": 1}
    row |= {"owner": "C", "ct": 1.0, "lt": 1.0, "et": None, "expires": None, "st": 0}
    row |= {"cni": None, "cbs": None, "cs": 2, "acpi": None, "doc": "{}"}
    values = [row[name] for name in RESOURCES.columns]

    def insert(conn: Connection) -> int | None:
        return RESOURCES.run(conn, values)

    def stored(conn: Connection) -> tuple:
        return tuple(conn.execute(select(resources)).one())

    assert in_storage(database.url, insert) is None
    assert in_storage(database.url, stored) == tuple(values)


def test_a_null_in_a_not_null_column_fails_and_leaves_nothing(database: Database) -> None:
    row = list(notification_row(0, ()))
    row[NOTIFICATIONS.columns.index("rqi")] = None

    def insert_a_good_and_a_bad_row(conn: Connection) -> None:
        NOTIFICATIONS.run(conn, notification_row(1, ()))
        NOTIFICATIONS.run(conn, row)

    def count(conn: Connection) -> int:
        return len(conn.execute(select(notifications.c.id)).all())

    with pytest.raises((IntegrityError, sqlite3.IntegrityError)) as failure:
        in_storage(database.url, insert_a_good_and_a_bad_row)
    assert "null" in str(failure.value).lower()
    assert in_storage(database.url, count) == 0
