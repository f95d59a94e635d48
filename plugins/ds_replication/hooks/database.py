"""T-SQL on a DS database: `DsDatabaseHook`, a `MsSqlHook` bound to the configured database.

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

from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook
from pymssql import Connection

from ds_replication.hooks import ConnectionFieldError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$#@]{0,127}$")


def quote_name(name: str) -> str:
    """`[name]` for a validated identifier; anything unusual is refused, never escaped."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f"[{name}]"


def query(conn: Connection, sql: str, params: tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
    """Rows of a single SELECT as dicts; `%s` in `sql` take `params`, quoted by pymssql."""
    cursor = conn.cursor(as_dict=True)
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def execute(conn: Connection, sql: str) -> None:
    """Run a batch that returns no rows."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def run_script(conn: Connection, sql: str, params: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """Run a script whose only result set is its last statement; that row as a dict."""
    rows = query(conn, sql, params)
    return dict(rows[0]) if rows else {}


class DsDatabaseHook(MsSqlHook):
    """A DS server's SQL Server, always on the configured `database`.

    :param mssql_conn_id: the Airflow connection (type `mssql`); its port must be set, its
        schema is not used: catalog reads and scripts must all see the one DS database.
    :param database: the DS database (`express`).
    """

    def __init__(self, mssql_conn_id: str, database: str) -> None:
        super().__init__(mssql_conn_id=mssql_conn_id, schema=database)
        self.database = database

    def check_fields(self) -> None:
        """Raise ConnectionFieldError when the connection cannot reach the server as meant:
        pymssql would take a missing port for the string "None"."""
        conn = self.get_connection(self.mssql_conn_id)
        if not conn.host:
            raise ConnectionFieldError(self.mssql_conn_id, "host", "must be set (the DS server's SQL Server)")
        if not conn.port or int(conn.port) <= 0:
            raise ConnectionFieldError(self.mssql_conn_id, "port", "must be set (1433, or the instance's port)")

    def get_conn(self) -> Connection:
        self.check_fields()
        return super().get_conn()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A pymssql connection in autocommit mode, closed on exit."""
        conn = self.get_conn()
        try:
            conn.autocommit(True)
            # Date strings read year-month-day whatever the login's language (British, German and
            # French logins read 'YYYY-MM-DD hh:mm:ss' as year-day-month).
            execute(conn, "SET DATEFORMAT ymd")
            yield conn
        finally:
            conn.close()

    def test_connection(self) -> tuple[bool, str]:
        try:
            with self.connect() as conn:
                query(conn, "SELECT 1 AS ok")
        except Exception as error:
            return False, str(error)
        return True, f"connected to database {self.database}"
