"""The subscriptions kept in memory on the SQLite writer's connection: every change to them,
committed or rolled back, is seen by the very next lookup, and with several workers nothing
is kept."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from cse import migrate
from cse.constants import ResourceType
from cse.resource import Resource
from cse.storage import Storage, repository, subscription_cache

NOW = 1_000_000.0


def container() -> Resource:
    return Resource(ri="cnt1", ty=ResourceType.CNT, rn="c", pi=None, srn="c", owner="C", ct=0, lt=0)


def subscription(ri: str, expires: float | None = None, **attrs: Any) -> Resource:
    return Resource(
        ri=ri,
        ty=ResourceType.SUB,
        rn=ri,
        pi="cnt1",
        srn=f"c/{ri}",
        owner="C",
        ct=0,
        lt=0,
        et=expires,
        expires=expires,
        attrs={"nu": ["http://127.0.0.1:9/"], **attrs},
    )


def names(conn: Connection, moment: float = NOW) -> list[str]:
    return sorted(s.ri for s in repository.subscriptions_of(conn, "cnt1", moment))


class Failed(Exception):
    pass


def fail_after(change: Callable[[Connection], None]) -> Callable[[Connection], None]:
    def job(conn: Connection) -> None:
        change(conn)
        raise Failed

    return job


def run(path: Path, sole_writer: bool, scenario: Callable[[Storage], Any]) -> Any:
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)

    async def main() -> Any:
        storage = Storage(url, sole_writer=sole_writer)
        try:
            await storage.write(repository.insert_resource, container())
            return await scenario(storage)
        finally:
            await storage.close()

    return asyncio.run(main())


def test_a_created_subscription_is_seen_by_the_next_lookup(tmp_path: Path) -> None:
    async def scenario(storage: Storage) -> None:
        assert await storage.write(names) == []  # the empty answer is now in memory
        await storage.write(repository.insert_resource, subscription("sub1"))
        assert await storage.write(names) == ["sub1"]

    run(tmp_path / "cse.db", True, scenario)


def test_a_lookup_in_the_changing_transaction_reads_the_database(tmp_path: Path) -> None:
    def create_then_look(conn: Connection) -> tuple[list[str], list[str]]:
        before = names(conn)
        repository.insert_resource(conn, subscription("sub1"))
        return before, names(conn)

    async def scenario(storage: Storage) -> tuple[list[str], list[str]]:
        return await storage.write(create_then_look)

    assert run(tmp_path / "cse.db", True, scenario) == ([], ["sub1"])


def test_an_updated_subscription_is_seen_as_saved(tmp_path: Path) -> None:
    def count_down(conn: Connection) -> None:
        (sub,) = repository.subscriptions_of(conn, "cnt1", NOW)
        sub.attrs["exc"] -= 1
        repository.save_resource(conn, sub, labels_changed=False)

    async def scenario(storage: Storage) -> int:
        await storage.write(repository.insert_resource, subscription("sub1", exc=3))
        await storage.write(names)
        await storage.write(count_down)
        return await storage.write(
            lambda conn: repository.subscriptions_of(conn, "cnt1", NOW)[0].attrs["exc"]
        )

    assert run(tmp_path / "cse.db", True, scenario) == 2


def test_a_deleted_subscription_and_one_under_a_deleted_parent_are_gone(tmp_path: Path) -> None:
    async def scenario(storage: Storage) -> tuple[list[str], list[str]]:
        await storage.write(repository.insert_resource, subscription("sub1"))
        await storage.write(repository.insert_resource, subscription("sub2"))
        await storage.write(names)
        await storage.write(repository.delete_subtree, subscription("sub1"))
        after_one = await storage.write(names)
        await storage.write(repository.delete_subtree, container())
        return after_one, await storage.write(names)

    assert run(tmp_path / "cse.db", True, scenario) == (["sub2"], [])


def test_a_rolled_back_change_leaves_no_trace(tmp_path: Path) -> None:
    async def scenario(storage: Storage) -> tuple[list[str], list[str]]:
        await storage.write(repository.insert_resource, subscription("sub1"))
        await storage.write(names)
        with pytest.raises(Failed):
            await storage.write(
                fail_after(lambda c: repository.insert_resource(c, subscription("sub2")))
            )
        after_create = await storage.write(names)
        with pytest.raises(Failed):
            await storage.write(
                fail_after(lambda c: repository.delete_subtree(c, subscription("sub1")))
            )
        return after_create, await storage.write(names)

    assert run(tmp_path / "cse.db", True, scenario) == (["sub1"], ["sub1"])


def test_a_change_rolled_back_with_a_batch_leaves_no_trace(tmp_path: Path) -> None:
    """Jobs that queue together share a transaction; one failing job rolls the batch back
    and the others are run again alone."""

    async def scenario(storage: Storage) -> list[str]:
        await storage.write(names)
        jobs = [
            storage.write(repository.insert_resource, subscription("sub1")),
            storage.write(
                fail_after(lambda c: repository.insert_resource(c, subscription("sub2")))
            ),
            storage.write(names),
        ]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        assert isinstance(results[1], Failed)
        return await storage.write(names)

    assert run(tmp_path / "cse.db", True, scenario) == ["sub1"]


def test_an_expired_subscription_is_left_out_without_a_change(tmp_path: Path) -> None:
    async def scenario(storage: Storage) -> tuple[list[str], list[str]]:
        await storage.write(repository.insert_resource, subscription("sub1", expires=NOW + 5))
        await storage.write(repository.insert_resource, subscription("sub2"))
        before = await storage.write(names, NOW)
        return before, await storage.write(names, NOW + 5)

    assert run(tmp_path / "cse.db", True, scenario) == (["sub1", "sub2"], ["sub2"])


def test_a_full_memory_starts_afresh(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(subscription_cache, "MAX_ENTRIES", 2)

    def looks(conn: Connection) -> int:
        for ri in ("a", "b", "c"):
            repository.subscriptions_of(conn, ri, NOW)
        return len(conn.info["citycse.subscriptions"])

    async def scenario(storage: Storage) -> int:
        return await storage.write(looks)

    assert run(tmp_path / "cse.db", True, scenario) == 1


def insert_behind_the_writer(path: Path, resource: Resource) -> None:
    """A row written by another process, which the writer of this one does not see."""
    row = repository._values(resource)
    db = sqlite3.connect(path)
    db.execute(
        f"INSERT INTO resources ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        list(row.values()),
    )
    db.commit()
    db.close()


@pytest.mark.parametrize("sole_writer", [True, False])
def test_only_a_sole_writer_answers_from_memory(tmp_path: Path, sole_writer: bool) -> None:
    """The sole writer reads a resource's subscriptions once; with several workers each
    process writes, so none may answer from memory."""
    path = tmp_path / "cse.db"

    async def scenario(storage: Storage) -> tuple[list[str], list[str]]:
        before = await storage.write(names)
        insert_behind_the_writer(path, subscription("sub9"))
        return before, await storage.write(names)

    expected = [] if sole_writer else ["sub9"]
    assert run(path, sole_writer, scenario) == ([], expected)


def test_memory_is_filled_again_after_a_change(tmp_path: Path) -> None:
    path = tmp_path / "cse.db"

    async def scenario(storage: Storage) -> list[str]:
        await storage.write(names)
        await storage.write(repository.insert_resource, subscription("sub1"))
        await storage.write(names)
        insert_behind_the_writer(path, subscription("sub9"))
        return await storage.write(names)

    assert run(path, True, scenario) == ["sub1"]
