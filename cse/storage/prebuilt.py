"""Running prebuilt hot-path statements.

The statements are built once at import. On SQLite they go straight to the driver with the
SQL compiled once: SQLAlchemy's per-execution work costs more than SQLite's. Elsewhere they
run through SQLAlchemy as usual (its compiled cache then applies)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

_SQLITE_COMPILED: dict[int, tuple[str, tuple[str, ...], dict[str, Any]]] = {}


def _sqlite_statement(conn: Connection, statement: Any) -> tuple[str, tuple[str, ...], dict]:
    compiled = _SQLITE_COMPILED.get(id(statement))
    if compiled is None:
        sql = statement.compile(dialect=conn.dialect)
        defaults = {name: bind.value for name, bind in sql.binds.items() if not bind.required}
        compiled = (sql.string, tuple(sql.positiontup or ()), defaults)
        _SQLITE_COMPILED[id(statement)] = compiled
    return compiled


def _positional(names: tuple[str, ...], defaults: dict, params: dict[str, Any]) -> list[Any]:
    return [params[name] if name in params else defaults[name] for name in names]


def execute(conn: Connection, statement: Any, params: dict[str, Any]) -> Any:
    """Run a prebuilt statement; the result has `fetchone`, `fetchall` and `rowcount`."""
    if conn.dialect.name != "sqlite":
        return conn.execute(statement, params)
    sql, names, defaults = _sqlite_statement(conn, statement)
    return conn.connection.dbapi_connection.execute(sql, _positional(names, defaults, params))


def execute_many(conn: Connection, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Run a prebuilt statement once per parameter set (one prepared statement)."""
    if conn.dialect.name != "sqlite":
        conn.execute(statement, list(rows))
        return
    sql, names, defaults = _sqlite_statement(conn, statement)
    conn.connection.dbapi_connection.executemany(
        sql, [_positional(names, defaults, params) for params in rows]
    )


def first(conn: Connection, statement: Any, params: dict[str, Any]) -> Any:
    return execute(conn, statement, params).fetchone()


_WITH_RETURNING: dict[int, Any] = {}


def insert_returning_id(conn: Connection, statement: Any, id_column: Any, params: dict) -> int:
    """Run a prebuilt insert; returns the id it gave the new row. SQLite reports it as the
    cursor's last row id, which costs less than a RETURNING clause and its result set."""
    if conn.dialect.name == "sqlite":
        return execute(conn, statement, params).lastrowid
    returning = _WITH_RETURNING.get(id(statement))
    if returning is None:
        returning = _WITH_RETURNING[id(statement)] = statement.returning(id_column)
    return conn.execute(returning, params).scalar_one()
