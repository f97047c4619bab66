"""Running prebuilt hot-path statements.

The statements are built once at import. On SQLite they go straight to the driver with the
SQL compiled once: SQLAlchemy's per-execution work costs more than SQLite's. Elsewhere they
run through SQLAlchemy as usual (its compiled cache then applies)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Table, bindparam, insert
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


class RowInsert:
    """An insert of whole rows, given as tuples in the order of `columns` (every column of
    the table but its generated id). A hot-path insert otherwise builds a dict per row only
    to have it taken apart again."""

    def __init__(self, table: Table, id_column: Column) -> None:
        self.columns = tuple(column.name for column in table.c if column is not id_column)
        self.statement = insert(table).values({name: bindparam(name) for name in self.columns})
        self._returning = self.statement.returning(id_column)
        self._sqlite_sql: str | None = None

    def run(self, conn: Connection, row: Sequence[Any]) -> int:
        """Insert one row; returns the id it was given. SQLite reports it as the cursor's
        last row id, which costs less than a RETURNING clause and its result set."""
        if conn.dialect.name != "sqlite":
            params = dict(zip(self.columns, row, strict=True))
            return conn.execute(self._returning, params).scalar_one()
        sql = self._sqlite_sql or self._compile_for_sqlite(conn)
        return conn.connection.dbapi_connection.execute(sql, row).lastrowid

    def _compile_for_sqlite(self, conn: Connection) -> str:
        sql, names, _ = _sqlite_statement(conn, self.statement)
        if names != self.columns:
            raise RuntimeError(f"the insert binds {names}, not {self.columns}")
        self._sqlite_sql = sql
        return sql
