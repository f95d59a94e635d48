"""The DS lab's SQL Server: a declared subset of T-SQL run on SQLite (see SUBSET.md)."""

from tests.lab.tsql.engine import Engine
from tests.lab.tsql.errors import ConnectionDropped, SqlError
from tests.lab.tsql.results import Column, ResultSet
from tests.lab.tsql.session import Session

__all__ = ["Column", "ConnectionDropped", "Engine", "ResultSet", "Session", "SqlError"]
