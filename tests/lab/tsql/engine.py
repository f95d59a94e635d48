"""The `express` database of one lab host, and the sessions (connections) to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from tests.lab.tsql import catalog
from tests.lab.tsql.session import Session


class Engine:
    """An SQLite file made by ds_schema.create_express, served as SQL Server database `database`."""

    def __init__(self, db_path: str, database: str = "express") -> None:
        self.db_path = str(db_path)
        self.database = database
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            catalog.prepare_database(db)
        finally:
            db.close()

    def session(
        self,
        hook: Callable[[str, str, str], None] | None = None,
        app_name: str = "",
        host_name: str = "",
        login: str = "sa",
    ) -> Session:
        """A new session; `app_name`, `host_name` as the client's LOGIN7 gave them, `login` its login."""
        return Session(self, hook, app_name, host_name, login)
