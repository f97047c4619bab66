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
    """An insert of whole rows, given as sequences in the order of `columns` (every column of
    the table but a generated id). A hot-path insert otherwise builds a dict per row only to
    have it taken apart again.

    On SQLite a None goes into the SQL as a literal NULL instead of a bound parameter: the
    driver looks for an adapter for every None it binds, which costs more than binding any
    other value. There is one SQL text per pattern of NULL columns."""

    def __init__(self, table: Table, generated_id: Column | None = None) -> None:
        self.columns = tuple(column.name for column in table.c if column is not generated_id)
        self.statement = insert(table).values({name: bindparam(name) for name in self.columns})
        self._returning = (
            self.statement.returning(generated_id) if generated_id is not None else None
        )
        self._sqlite_sql: dict[tuple[bool, ...], str] = {}

    def run(self, conn: Connection, row: Sequence[Any]) -> int | None:
        """Insert one row; returns the generated id it was given (None without one). SQLite
        reports it as the cursor's last row id, which costs less than a RETURNING clause."""
        if conn.dialect.name != "sqlite":
            params = dict(zip(self.columns, row, strict=True))
            if self._returning is None:
                conn.execute(self.statement, params)
                return None
            return conn.execute(self._returning, params).scalar_one()
        nulls: tuple[bool, ...] = ()
        if None in row:
            nulls = tuple([value is None for value in row])
            row = [value for value in row if value is not None]
        sql = self._sqlite_sql.get(nulls) or self._compile_for_sqlite(conn, nulls)
        cursor = conn.connection.dbapi_connection.execute(sql, row)
        return cursor.lastrowid if self._returning is not None else None

    def _compile_for_sqlite(self, conn: Connection, nulls: tuple[bool, ...]) -> str:
        sql, names, _ = _sqlite_statement(conn, self.statement)
        if names != self.columns:
            raise RuntimeError(f"the insert binds {names}, not {self.columns}")
        head, values_clause, placeholders = sql.rpartition(" VALUES (")
        if placeholders != ", ".join("?" * len(names)) + ")":
            raise RuntimeError(f"unexpected insert: {sql}")
        slots = ", ".join("NULL" if null else "?" for null in nulls or (False,) * len(names))
        self._sqlite_sql[nulls] = compiled = f"{head}{values_clause}{slots})"
        return compiled
