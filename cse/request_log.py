"""Executed-once bookkeeping for requests that may arrive twice (MQTT QoS 1), shared by all
worker processes through the database: the first copy claims the (originator, rqi) pair,
later copies get the stored reply instead of a second execution."""

import sqlite3

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cse.storage.schema import request_replies

Q = request_replies.c
CLAIMED = object()
"""`claim` result: this copy is the first one and must be executed."""


def claim(conn: Connection, originator: str, rqi: str, moment: float) -> object | str | None:
    """CLAIMED for the first copy; for a later copy the stored reply, or None while the
    first copy is still being executed (its worker will answer)."""
    existing = conn.execute(select(Q.reply).where(Q.originator == originator, Q.rqi == rqi)).first()
    if existing is not None:
        return existing.reply
    try:
        conn.execute(
            insert(request_replies).values(
                originator=originator, rqi=rqi, created=moment, reply=None
            )
        )
    except (IntegrityError, sqlite3.IntegrityError):
        return None
    return CLAIMED


def reply_of(conn: Connection, originator: str, rqi: str) -> str | None:
    row = conn.execute(select(Q.reply).where(Q.originator == originator, Q.rqi == rqi)).first()
    return row.reply if row is not None else None


def record(conn: Connection, originator: str, rqi: str, reply: str) -> None:
    conn.execute(
        update(request_replies).where(Q.originator == originator, Q.rqi == rqi).values(reply=reply)
    )


def prune(conn: Connection, before: float) -> int:
    return conn.execute(delete(request_replies).where(Q.created < before)).rowcount
