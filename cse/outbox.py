"""The notification outbox table: rows written with the change that caused them, claimed and
settled by the delivery service, read by the event stream and polling channels."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, func, insert, literal_column, or_, select, update
from sqlalchemy.engine import Connection

from cse.identifiers import ProcessSequence
from cse.storage import prebuilt
from cse.storage.schema import notification_counters, notifications

N = notifications.c
PENDING = 0
DELIVERED = 1
DROPPED = 2
AWAITING_PICKUP = 3
"""Addressed to an AE that is not request-reachable: fetched by its stream or polling channel."""
IS_PENDING = N.state == literal_column(str(PENDING))
"""Written out, not bound: the due index holds only pending rows, and the planners use it
only for a query that names the same constant (cse/storage/schema.py)."""


@dataclass(slots=True)
class Notification:
    id: int
    target: str
    sub_ri: str | None
    rqi: str
    body: dict[str, Any]
    created: float
    attempts: int
    latest_key: str | None
    batch_key: str | None
    payload: bytes
    """`body` serialized, as it is stored and sent."""


def _from_row(row: Any) -> Notification:
    return Notification(
        id=row.id,
        target=row.target,
        sub_ri=row.sub_ri,
        rqi=row.rqi,
        body=orjson.loads(row.body),
        created=row.created,
        attempts=row.attempts,
        latest_key=row.latest_key,
        batch_key=row.batch_key,
        payload=row.body.encode(),
    )


_COLUMNS = (
    N.id,
    N.target,
    N.sub_ri,
    N.rqi,
    N.body,
    N.created,
    N.attempts,
    N.latest_key,
    N.batch_key,
)


# Statements of the hot path are built once: building and compiling them cost more than
# running them (a fan-out writes one row per target, every delivery settles its rows).
_INSERT = prebuilt.RowInsert(notifications, N.id)
_SETTLE_DELIVERED = (
    update(notifications)
    .where(N.id >= bindparam("first_id"), N.id <= bindparam("last_id"))
    .values(state=DELIVERED, finished=bindparam("moment"), lease_until=None)
)
_SETTLE_RETRY = (
    update(notifications)
    .where(N.id == bindparam("item_id"))
    .values(
        attempts=N.attempts + 1,
        next_attempt=bindparam("due"),
        lease_until=None,
        error=bindparam("reason"),
    )
)
_SETTLE_DROPPED = (
    update(notifications)
    .where(N.id == bindparam("item_id"))
    .values(
        state=DROPPED, finished=bindparam("moment"), lease_until=None, error=bindparam("reason")
    )
)
_RELEASE = update(notifications).where(N.id == bindparam("item_id")).values(lease_until=None)
_TO_PICKUP = (
    update(notifications)
    .where(N.id == bindparam("item_id"))
    .values(state=AWAITING_PICKUP, lease_until=None)
)
C = notification_counters.c
_COUNT = (
    update(notification_counters)
    .where(C.sub_ri == bindparam("sub"))
    .values(
        delivered=C.delivered + bindparam("add_delivered"),
        retried=C.retried + bindparam("add_retried"),
        dropped=C.dropped + bindparam("add_dropped"),
    )
)
_FIRST_COUNT = insert(notification_counters).values(
    {column.name: bindparam(column.name) for column in notification_counters.c}
)
LEASE_SECONDS = 60.0
"""How long a claimed notification belongs to one process before another may take it."""

_request_ids = ProcessSequence()


def new_request_id() -> str:
    """Unique across processes and restarts (a random prefix per process, then a counter);
    a retry or a redelivery after a restart reuses the stored one."""
    return f"ntf-{_request_ids.prefix}-{_request_ids.next_number()}"


def add(
    conn: Connection,
    target: str,
    sub_ri: str | None,
    body: dict[str, Any],
    created: float,
    state: int,
    due: float,
    latest_key: str | None = None,
    batch_key: str | None = None,
    lease_until: float | None = None,
) -> Notification | None:
    """Write one notification; with `lease_until` it is leased to the caller and returned."""
    events = 1
    if latest_key is not None:
        # latestNotify: a newer notification replaces the ones not yet delivered, and
        # carries their count (a batch of `num` events is then due with its latest one).
        superseded = (
            N.latest_key == latest_key,
            N.state.in_((PENDING, AWAITING_PICKUP)),
            N.lease_until.is_(None),
        )
        events += conn.execute(
            select(func.coalesce(func.sum(N.events), 0)).where(*superseded)
        ).scalar_one()
        conn.execute(delete(notifications).where(*superseded))
    rqi = new_request_id()
    payload = orjson.dumps(body)
    # in the order of the table's columns after `id` (prebuilt.RowInsert checks it)
    row = (
        target,
        sub_ri,
        rqi,
        payload.decode(),
        created,
        due,  # next_attempt
        lease_until,
        0,  # attempts
        state,
        latest_key,
        batch_key,
        events,
        None,  # finished
        None,  # error
    )
    item_id = _INSERT.run(conn, row)
    if lease_until is None:
        return None
    return Notification(
        id=item_id,
        target=target,
        sub_ri=sub_ri,
        rqi=rqi,
        body=body,
        created=created,
        attempts=0,
        latest_key=latest_key,
        batch_key=batch_key,
        payload=payload,
    )


def pending_events(conn: Connection, sub_ri: str, target: str) -> int:
    """How many events the undelivered notifications of a subscription to a target stand for."""
    return conn.execute(
        select(func.coalesce(func.sum(N.events), 0)).where(
            N.sub_ri == sub_ri, N.target == target, IS_PENDING
        )
    ).scalar_one()


def make_due(conn: Connection, sub_ri: str, target: str, moment: float) -> None:
    conn.execute(
        update(notifications)
        .where(N.sub_ri == sub_ri, N.target == target, IS_PENDING, N.next_attempt > moment)
        .values(next_attempt=moment)
    )


def claim_due(
    conn: Connection, moment: float, lease_seconds: float, limit: int
) -> list[Notification]:
    """Lease due notifications, oldest first, skipping targets that are backing off (so that
    a target receives its notifications in order)."""
    rows = conn.execute(claim_statement(moment, lease_seconds, limit)).all()
    return sorted((_from_row(row) for row in rows), key=lambda n: n.id)


def claim_statement(moment: float, lease_seconds: float, limit: int) -> Any:
    backing_off = (
        select(N.target)
        .where(IS_PENDING, N.attempts > 0, N.next_attempt > moment)
        .scalar_subquery()
    )
    due = (
        select(N.id)
        .where(
            IS_PENDING,
            N.next_attempt <= moment,
            or_(N.lease_until.is_(None), N.lease_until < moment),
            N.target.not_in(backing_off),
        )
        .order_by(N.id)
        .limit(limit)
        .scalar_subquery()
    )
    return (
        update(notifications)
        .where(N.id.in_(due))
        .values(lease_until=moment + lease_seconds)
        .returning(*_COLUMNS)
    )


def _runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive ids as (first, last) runs: `[3, 4, 5, 9]` -> `[(3, 5), (9, 9)]`."""
    runs: list[tuple[int, int]] = []
    for item_id in sorted(ids):
        if runs and runs[-1][1] + 1 == item_id:
            runs[-1] = (runs[-1][0], item_id)
        else:
            runs.append((item_id, item_id))
    return runs


def settle_delivered(conn: Connection, ids: Sequence[int], moment: float) -> None:
    """Mark notifications delivered, one statement per run of consecutive ids (a run holds
    exactly the given ids, so no other row is touched)."""
    if ids:
        rows = [{"first_id": a, "last_id": b, "moment": moment} for a, b in _runs(ids)]
        prebuilt.execute_many(conn, _SETTLE_DELIVERED, rows)


def settle_retry(conn: Connection, retries: Sequence[tuple[int, float, str]]) -> None:
    """Back off each (id, due, error): the notification is due again at `due`."""
    if retries:
        rows = [{"item_id": i, "due": due, "reason": error[:500]} for i, due, error in retries]
        prebuilt.execute_many(conn, _SETTLE_RETRY, rows)


def settle_dropped(conn: Connection, ids: Sequence[int], moment: float, error: str) -> None:
    if ids:
        reason = error[:500]
        rows = [{"item_id": i, "moment": moment, "reason": reason} for i in ids]
        prebuilt.execute_many(conn, _SETTLE_DROPPED, rows)


def release(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        prebuilt.execute_many(conn, _RELEASE, [{"item_id": i} for i in ids])


def reset_leases(conn: Connection) -> None:
    conn.execute(update(notifications).where(N.lease_until.is_not(None)).values(lease_until=None))


def for_target(
    conn: Connection, targets: Iterable[str], after_id: int, limit: int, states: Iterable[int]
) -> list[Notification]:
    rows = conn.execute(
        select(*_COLUMNS)
        .where(N.target.in_(list(targets)), N.id > after_id, N.state.in_(list(states)))
        .order_by(N.id)
        .limit(limit)
    ).all()
    return [_from_row(row) for row in rows]


def mark_picked_up(conn: Connection, item: Notification, moment: float) -> bool:
    """Record that an AE fetched a notification (stream or polling channel)."""
    result = conn.execute(
        update(notifications)
        .where(N.id == item.id, N.state == AWAITING_PICKUP)
        .values(state=DELIVERED, finished=moment)
    )
    picked = result.rowcount == 1
    if picked and item.sub_ri:
        count(conn, item.sub_ri, delivered=1)
    return picked


def count(
    conn: Connection, sub_ri: str, delivered: int = 0, retried: int = 0, dropped: int = 0
) -> None:
    """Add to a subscription's delivery counters."""
    added = {"add_delivered": delivered, "add_retried": retried, "add_dropped": dropped}
    if not prebuilt.execute(conn, _COUNT, {"sub": sub_ri, **added}).rowcount:
        values = {"delivered": delivered, "retried": retried, "dropped": dropped}
        prebuilt.execute(conn, _FIRST_COUNT, {"sub_ri": sub_ri, **values})


def counters(conn: Connection) -> list[Any]:
    return list(conn.execute(select(notification_counters)).all())


def prune(conn: Connection, before: float) -> int:
    return conn.execute(
        delete(notifications).where(N.state.in_((DELIVERED, DROPPED)), N.finished < before)
    ).rowcount


def to_pickup(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        prebuilt.execute_many(conn, _TO_PICKUP, [{"item_id": i} for i in ids])
