"""The subscriptions of each resource, kept in memory on the SQLite writer's connection.

Every create, update and delete looks up the subscriptions of the resource it changes (and
of its parent), so that query, with the parsing of what it found, ran in nearly every write
transaction. From memory it is a dictionary lookup. The memory lives on the write
connection of a process that is the database's only writer (one worker, `LoopWriter` in
cse/storage/engine.py): with several processes, it would miss the subscriptions that the
others create.

Exactness rests on one rule: every repository function that creates, changes or deletes a
subscription calls `changing` with the subscription's parent before it returns. A resource
whose subscriptions are changing in the running transaction is looked up in the database, never
in memory, and its entry is dropped when the transaction ends, committed or rolled back.
So an entry was read while nothing changed it, and holds what the database holds. It holds
the subscriptions that had not expired when it was read; each lookup leaves out the ones
that expired since.

The subscriptions handed out are shared with later lookups: whoever changes one saves it
(`repository.save_resource`), which calls `changing` and so drops the entry."""

from collections.abc import Callable

from sqlalchemy.engine import Connection

from cse.resource import Resource

MAX_ENTRIES = 100_000
"""Memory starts afresh when it would hold more resources than this."""
_MEMORY = "citycse.subscriptions"
_CHANGING = "citycse.subscriptions.changing"


def keep_on(conn: Connection) -> None:
    """Keep subscriptions in memory on this connection: only for the sole writer's."""
    conn.info[_MEMORY] = {}


def changing(conn: Connection, pi: str | None) -> None:
    """The running transaction creates, changes or deletes a subscription of `pi`."""
    if pi is not None and _MEMORY in conn.info:
        conn.info.setdefault(_CHANGING, set()).add(pi)


def lookup(
    conn: Connection, ri: str, moment: float, load: Callable[[], list[Resource]]
) -> list[Resource]:
    """The unexpired subscriptions of `ri`; `load` reads them from the database."""
    memory: dict[str, tuple[Resource, ...]] | None = conn.info.get(_MEMORY)
    if memory is None or ri in conn.info.get(_CHANGING, ()):
        return load()
    entry = memory.get(ri)
    if entry is None:
        if len(memory) >= MAX_ENTRIES:
            memory.clear()
        entry = memory[ri] = tuple(load())
    return [s for s in entry if s.expires is None or s.expires > moment]


def transaction_ended(conn: Connection) -> None:
    """Drop what the transaction that just ended (committed or rolled back) changed."""
    changed: set[str] | None = conn.info.pop(_CHANGING, None)
    memory: dict[str, tuple[Resource, ...]] | None = conn.info.get(_MEMORY)
    if changed and memory:
        for ri in changed:
            memory.pop(ri, None)
