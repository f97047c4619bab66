"""The notification outbox table: rows written with the change that caused them, claimed and
settled by the delivery service, read by the event stream and polling channels."""

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from cse.storage.schema import notification_counters, notifications

N = notifications.c
PENDING = 0
DELIVERED = 1
DROPPED = 2
AWAITING_PICKUP = 3
"""Addressed to an AE that is not request-reachable: fetched by its stream or polling channel."""


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


_INSERT = insert(notifications).returning(N.id)  # built once: a fan-out runs it per target
LEASE_SECONDS = 60.0
"""How long a claimed notification belongs to one process before another may take it."""


def new_request_id() -> str:
    return "ntf-" + secrets.token_hex(8)


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
    row = conn.execute(
        _INSERT,
        {
            "target": target,
            "sub_ri": sub_ri,
            "rqi": rqi,
            "body": orjson.dumps(body).decode(),
            "created": created,
            "next_attempt": due,
            "lease_until": lease_until,
            "attempts": 0,
            "state": state,
            "latest_key": latest_key,
            "batch_key": batch_key,
            "events": events,
            "finished": None,
            "error": None,
        },
    ).first()
    if lease_until is None:
        return None
    return Notification(
        id=row.id,
        target=target,
        sub_ri=sub_ri,
        rqi=rqi,
        body=body,
        created=created,
        attempts=0,
        latest_key=latest_key,
        batch_key=batch_key,
    )


def pending_events(conn: Connection, sub_ri: str, target: str) -> int:
    """How many events the undelivered notifications of a subscription to a target stand for."""
    return conn.execute(
        select(func.coalesce(func.sum(N.events), 0)).where(
            N.sub_ri == sub_ri, N.target == target, N.state == PENDING
        )
    ).scalar_one()


def make_due(conn: Connection, sub_ri: str, target: str, moment: float) -> None:
    conn.execute(
        update(notifications)
        .where(N.sub_ri == sub_ri, N.target == target, N.state == PENDING, N.next_attempt > moment)
        .values(next_attempt=moment)
    )


def claim_due(
    conn: Connection, moment: float, lease_seconds: float, limit: int
) -> list[Notification]:
    """Lease due notifications, oldest first, skipping targets that are backing off (so that
    a target receives its notifications in order)."""
    backing_off = (
        select(N.target)
        .where(N.state == PENDING, N.attempts > 0, N.next_attempt > moment)
        .scalar_subquery()
    )
    due = (
        select(N.id)
        .where(
            N.state == PENDING,
            N.next_attempt <= moment,
            or_(N.lease_until.is_(None), N.lease_until < moment),
            N.target.not_in(backing_off),
        )
        .order_by(N.id)
        .limit(limit)
        .scalar_subquery()
    )
    rows = conn.execute(
        update(notifications)
        .where(N.id.in_(due))
        .values(lease_until=moment + lease_seconds)
        .returning(*_COLUMNS)
    ).all()
    return sorted((_from_row(row) for row in rows), key=lambda n: n.id)


def settle_delivered(conn: Connection, ids: Sequence[int], moment: float) -> None:
    if ids:
        conn.execute(
            update(notifications)
            .where(N.id.in_(ids))
            .values(state=DELIVERED, finished=moment, lease_until=None)
        )


def settle_retry(conn: Connection, item_id: int, due: float, error: str) -> None:
    conn.execute(
        update(notifications)
        .where(N.id == item_id)
        .values(attempts=N.attempts + 1, next_attempt=due, lease_until=None, error=error[:500])
    )


def settle_dropped(conn: Connection, ids: Sequence[int], moment: float, error: str) -> None:
    if ids:
        conn.execute(
            update(notifications)
            .where(N.id.in_(ids))
            .values(state=DROPPED, finished=moment, lease_until=None, error=error[:500])
        )


def release(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        conn.execute(update(notifications).where(N.id.in_(ids)).values(lease_until=None))


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
    values = {"delivered": delivered, "retried": retried, "dropped": dropped}
    updated = conn.execute(
        update(notification_counters)
        .where(notification_counters.c.sub_ri == sub_ri)
        .values(
            delivered=notification_counters.c.delivered + delivered,
            retried=notification_counters.c.retried + retried,
            dropped=notification_counters.c.dropped + dropped,
        )
    ).rowcount
    if not updated:
        conn.execute(insert(notification_counters).values(sub_ri=sub_ri, **values))


def counters(conn: Connection) -> list[Any]:
    return list(conn.execute(select(notification_counters)).all())


def prune(conn: Connection, before: float) -> int:
    return conn.execute(
        delete(notifications).where(N.state.in_((DELIVERED, DROPPED)), N.finished < before)
    ).rowcount


def to_pickup(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        conn.execute(
            update(notifications)
            .where(N.id.in_(ids))
            .values(state=AWAITING_PICKUP, lease_until=None)
        )
