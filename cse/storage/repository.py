"""Queries on the resource tree. Every function takes a synchronous SQLAlchemy Connection
and runs inside the transaction that `Storage.read`/`Storage.write` opened."""

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Integer, and_, bindparam, case, delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from cse.constants import ResourceType
from cse.errors import BadRequest, Conflict, NotFound
from cse.resource import Resource
from cse.storage import subscription_cache
from cse.storage.prebuilt import RowInsert
from cse.storage.prebuilt import execute as _execute
from cse.storage.prebuilt import execute_many as _execute_many
from cse.storage.prebuilt import first as _first
from cse.storage.schema import labels, resources
from cse.storage.touched import note

R = resources.c
RESOURCE_COLUMNS = (
    R.ri,
    R.ty,
    R.rn,
    R.pi,
    R.srn,
    R.owner,
    R.ct,
    R.lt,
    R.et,
    R.expires,
    R.st,
    R.cni,
    R.cbs,
    R.cs,
    R.acpi,
    R.doc,
)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class IdentifierTaken(Conflict):
    """The resource ID is in use (for an AE: the AE-ID is already registered)."""


def resource_from_row(row: Sequence[Any]) -> Resource:
    """A Resource from a row of RESOURCE_COLUMNS (a Row or a plain driver tuple)."""
    ri, ty, rn, pi, srn, owner, ct, lt, et, expires, st, cni, cbs, cs, acpi, doc = row[:16]
    attrs = orjson.loads(doc)
    return Resource(
        ri=ri,
        ty=ty,
        rn=rn,
        pi=pi,
        srn=srn,
        owner=owner,
        ct=ct,
        lt=lt,
        et=et,
        expires=expires,
        st=st,
        cni=cni,
        cbs=cbs,
        cs=cs,
        acpi=orjson.loads(acpi) if acpi else [],
        lbl=attrs.pop("lbl", []),
        attrs=attrs,
    )


def _values(resource: Resource) -> dict[str, Any]:
    doc = dict(resource.attrs)
    if resource.lbl:
        doc["lbl"] = resource.lbl
    doc_text = _dumps(doc)
    if "\\u0000" in doc_text:
        raise BadRequest("NUL characters are not allowed in attribute values")
    return {
        "ri": resource.ri,
        "ty": resource.ty,
        "rn": resource.rn,
        "pi": resource.pi,
        "srn": resource.srn,
        "depth": resource.depth,
        "owner": resource.owner,
        "ct": resource.ct,
        "lt": resource.lt,
        "et": resource.et,
        "expires": resource.expires,
        "st": resource.st,
        "cni": resource.cni,
        "cbs": resource.cbs,
        "cs": resource.cs,
        "acpi": _dumps(resource.acpi) if resource.acpi else None,
        "doc": doc_text,
    }


def subtree_condition(srn: str):
    """Rows strictly below `srn` in the tree, as an index range on the structured path."""
    return and_(R.srn > srn + "/", R.srn < srn + "0")


def with_subtree(srn: str):  # noqa: ANN201
    """The resource at `srn` and everything below it."""
    return or_(R.srn == srn, subtree_condition(srn))


def not_expired(now: float):
    return or_(R.expires.is_(None), R.expires > now)


# Hot-path statements are built once: building a statement costs more than running it.
_BY_SRN = select(*RESOURCE_COLUMNS).where(R.srn == bindparam("key"))
_BY_RI = select(*RESOURCE_COLUMNS).where(R.ri == bindparam("key"))
_EDGE_FILTER = (
    R.pi == bindparam("pi"),
    R.ty == bindparam("ty"),
    or_(R.expires.is_(None), R.expires > bindparam("now")),
)
_LATEST = select(*RESOURCE_COLUMNS).where(*_EDGE_FILTER).order_by(R.st.desc()).limit(1)
_OLDEST = select(*RESOURCE_COLUMNS).where(*_EDGE_FILTER).order_by(R.st.asc()).limit(1)
_INSERT = RowInsert(resources)
_INSERT_LABELS = insert(labels)
_BUMP = (
    update(resources)
    .where(R.ri == bindparam("target"))
    .values(st=R.st + 1, cni=R.cni + 1, cbs=R.cbs + bindparam("size"))
    .returning(R.st, R.cni, R.cbs, R.doc)
)
_SUBSCRIPTIONS = select(*RESOURCE_COLUMNS).where(*_EDGE_FILTER)
_OLDEST_CHILDREN = (
    select(R.ri, R.cs)
    .where(R.pi == bindparam("pi"), R.ty == bindparam("ty"))
    .order_by(R.st)
    .limit(bindparam("limit", type_=Integer))
)
_UNCOUNT = (
    update(resources)
    .where(R.ri == bindparam("target"))
    .values(cni=R.cni - bindparam("count"), cbs=R.cbs - bindparam("size"))
)
_DELETE_ONE = delete(resources).where(R.ri == bindparam("key"))
_LOCK_SHARED = select(R.ri).where(R.ri == bindparam("key")).with_for_update(read=True)
_LOCK_EXCLUSIVE = select(R.ri).where(R.ri == bindparam("key")).with_for_update()
_EXISTS = select(R.ri).where(R.ri == bindparam("key"))


def get_by_srn(conn: Connection, srn: str) -> Resource | None:
    row = _first(conn, _BY_SRN, {"key": srn})
    return resource_from_row(row) if row else None


def get_by_ri(conn: Connection, ri: str) -> Resource | None:
    row = _first(conn, _BY_RI, {"key": ri})
    return resource_from_row(row) if row else None


def get_many(conn: Connection, ris: Iterable[str]) -> list[Resource]:
    ris = list(set(ris))
    if not ris:
        return []
    rows = conn.execute(select(*RESOURCE_COLUMNS).where(R.ri.in_(ris))).all()
    return [resource_from_row(row) for row in rows]


def exists_ri(conn: Connection, ri: str) -> bool:
    return _first(conn, _EXISTS, {"key": ri}) is not None


def _changing_subscriptions_of(conn: Connection, ty: int, pi: str | None) -> None:
    """A resource of type `ty` under `pi` is written: if it is a subscription, the
    subscriptions of `pi` are changing (cse/storage/subscription_cache.py)."""
    if ty == ResourceType.SUB:
        subscription_cache.changing(conn, pi)


def insert_resource(conn: Connection, resource: Resource) -> None:
    """Insert a resource and its labels. The unique constraints make clashes atomic: a taken
    structured path is 4105 (name clash), a taken resource ID raises IdentifierTaken."""
    note(conn, resource.pi)
    _changing_subscriptions_of(conn, resource.ty, resource.pi)
    try:
        values = _values(resource)
        _INSERT.run(conn, [values[name] for name in _INSERT.columns])
    except (IntegrityError, sqlite3.IntegrityError) as exc:
        if "srn" in str(getattr(exc, "orig", exc)):
            raise Conflict(f"a resource named '{resource.rn}' already exists here") from exc
        raise IdentifierTaken(f"resource ID {resource.ri} is taken") from exc
    if resource.lbl:
        _execute_many(
            conn, _INSERT_LABELS, [{"ri": resource.ri, "lbl": lbl} for lbl in set(resource.lbl)]
        )


def save_resource(conn: Connection, resource: Resource, labels_changed: bool) -> None:
    """Write back an updated resource (everything but its identity and counters)."""
    note(conn, resource.ri)
    _changing_subscriptions_of(conn, resource.ty, resource.pi)
    values = _values(resource)
    for key in ("ri", "ty", "rn", "pi", "srn", "depth", "owner", "ct", "st", "cni", "cbs"):
        values.pop(key)
    result = conn.execute(update(resources).where(R.ri == resource.ri).values(**values))
    if result.rowcount != 1:
        raise NotFound(f"resource {resource.ri} no longer exists")
    if labels_changed:
        conn.execute(delete(labels).where(labels.c.ri == resource.ri))
        if resource.lbl:
            conn.execute(
                insert(labels), [{"ri": resource.ri, "lbl": lbl} for lbl in set(resource.lbl)]
            )


def bump_container(conn: Connection, ri: str, size: int) -> tuple[int, int, int, dict[str, Any]]:
    """Count one new instance of `size` bytes in a container; returns its new (st, cni, cbs)
    and its attributes as they are now (its limits may have changed since it was read)."""
    note(conn, ri)
    row = _first(conn, _BUMP, {"target": ri, "size": size})
    if row is None:
        raise NotFound(f"container {ri} no longer exists")
    return row[0], row[1], row[2], orjson.loads(row[3])


def bump_state_tag(conn: Connection, ri: str) -> int:
    note(conn, ri)
    row = conn.execute(
        update(resources).where(R.ri == ri).values(st=R.st + 1).returning(R.st)
    ).first()
    if row is None:
        raise NotFound(f"resource {ri} no longer exists")
    return row.st


def uncount_instances(conn: Connection, ri: str, count: int, size: int) -> None:
    note(conn, ri)
    _execute(conn, _UNCOUNT, {"target": ri, "count": count, "size": size})


def oldest_instances(conn: Connection, pi: str, ty: int, limit: int) -> list[tuple[str, int]]:
    """(ri, cs) of the `limit` oldest children of type `ty`, oldest first."""
    rows = _execute(conn, _OLDEST_CHILDREN, {"pi": pi, "ty": ty, "limit": limit}).fetchall()
    return [(ri, cs or 0) for ri, cs in rows]


def instances_older_than(conn: Connection, pi: str, ty: int, ct: float) -> Sequence[Row]:
    return conn.execute(select(R.ri, R.cs).where(R.pi == pi, R.ty == ty, R.ct < ct)).all()


def delete_instances(conn: Connection, pi: str, ris: Sequence[str]) -> None:
    """Delete instances of the container `pi` (leaf rows: they have no children)."""
    note(conn, pi, *ris)
    if len(ris) == 1:
        _execute(conn, _DELETE_ONE, {"key": ris[0]})
    elif ris:
        _execute_many(conn, _DELETE_ONE, [{"key": ri} for ri in ris])


def edge_instance(conn: Connection, pi: str, ty: int, now: float, latest: bool) -> Resource | None:
    """The newest (`la`) or oldest (`ol`) unexpired instance in a container."""
    row = _first(conn, _LATEST if latest else _OLDEST, {"pi": pi, "ty": ty, "now": now})
    return resource_from_row(row) if row else None


def lock_parent(conn: Connection, ri: str) -> None:
    """Hold the parent of a new resource (a shared lock on PostgreSQL) so that a concurrent
    delete of the parent either sees the new child or makes this create fail."""
    if _first(conn, _LOCK_SHARED, {"key": ri}) is None:
        raise NotFound(f"the parent {ri} no longer exists")


def lock_for_delete(conn: Connection, ri: str) -> bool:
    """Lock a resource that is about to be deleted; False when it is already gone."""
    return _first(conn, _LOCK_EXCLUSIVE, {"key": ri}) is not None


def delete_subtree(conn: Connection, resource: Resource) -> list[tuple[str, int, str | None]]:
    """Delete a resource and all its descendants; returns (ri, ty, pi) of every row deleted.
    The delete repeats until nothing is left, so that children whose creates committed
    while it waited for their locks are not orphaned."""
    in_subtree = with_subtree(resource.srn)
    statement = delete(resources).where(in_subtree).returning(R.ri, R.ty, R.pi)
    deleted: list[tuple[str, int, str | None]] = []
    while rows := conn.execute(statement).all():
        deleted.extend((row.ri, row.ty, row.pi) for row in rows)
    for ri, ty, pi in deleted:
        note(conn, ri, pi)
        _changing_subscriptions_of(conn, ty, pi)
    return deleted


def set_instance_expiry(conn: Connection, pi: str, ty: int, mia: int | None) -> None:
    """Recompute the effective expiry of a container's instances after its `mia` changed."""
    note(conn, pi)
    expires: Any = R.et
    if mia is not None:
        limit = R.ct + mia
        expires = case((and_(R.et.is_not(None), R.et < limit), R.et), else_=limit)
    conn.execute(update(resources).where(R.pi == pi, R.ty == ty).values(expires=expires))


def expired(conn: Connection, now: float, limit: int) -> list[Resource]:
    rows = conn.execute(
        select(*RESOURCE_COLUMNS)
        .where(R.expires.is_not(None), R.expires <= now)
        .order_by(R.expires)
        .limit(limit)
    ).all()
    return [resource_from_row(row) for row in rows]


def subscriptions_of(conn: Connection, pi: str, now: float) -> list[Resource]:
    """The unexpired subscriptions of a resource: looked up in every write transaction, from
    memory on the sole writer's connection (cse/storage/subscription_cache.py)."""

    def load() -> list[Resource]:
        params = {"pi": pi, "ty": ResourceType.SUB, "now": now}
        return [resource_from_row(row) for row in _execute(conn, _SUBSCRIPTIONS, params)]

    return subscription_cache.lookup(conn, pi, now, load)


def resources_in_subtree(conn: Connection, resource: Resource, ty: int) -> list[Resource]:
    """Resources of one type in a subtree, its root included."""
    in_subtree = with_subtree(resource.srn)
    rows = conn.execute(select(*RESOURCE_COLUMNS).where(in_subtree, R.ty == ty)).all()
    return [resource_from_row(row) for row in rows]
