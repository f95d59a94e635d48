"""Running T-SQL on a DS database through the mssql provider.

Scripts manage their own transactions (`BEGIN TRANSACTION` ... `COMMIT`, with
`SET XACT_ABORT ON`), so connections run in autocommit mode. A script returns at most one
result set, as its last statement: pymssql can swallow an error raised after a first
result set, so nothing that can fail comes after rows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$#@]{0,127}$")


def quote_name(name: str) -> str:
    """`[name]` for a validated identifier; anything unusual is refused, never escaped."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f"[{name}]"


@contextlib.contextmanager
def connect(mssql_conn_id: str, database: str) -> Iterator[Any]:
    """A pymssql connection from an Airflow connection to the configured `database` (the
    connection's own `schema` is not used: catalog reads and scripts must see one database),
    in autocommit mode, closed on exit."""
    from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook

    conn = MsSqlHook(mssql_conn_id=mssql_conn_id, schema=database).get_conn()
    try:
        conn.autocommit(True)
        yield conn
    finally:
        conn.close()


def query(conn: Any, sql: str, params: tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
    """Rows of a single SELECT as dicts; `%s` in `sql` take `params`, quoted by pymssql."""
    cursor = conn.cursor(as_dict=True)
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def execute(conn: Any, sql: str) -> None:
    """Run a batch that returns no rows."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def run_script(conn: Any, sql: str, params: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """Run a script whose only result set is its last statement; that row as a dict."""
    rows = query(conn, sql, params)
    return dict(rows[0]) if rows else {}
