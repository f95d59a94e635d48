"""SQL Server errors as the lab raises them: number, severity, state and SQL Server's wording."""

from __future__ import annotations


class SqlError(Exception):
    def __init__(self, number: int, message: str, severity: int = 16, state: int = 1, line: int = 1) -> None:
        super().__init__(message)
        self.number = number
        self.message = message
        self.severity = severity
        self.state = state
        self.line = line
        # Errors SQL Server raises while compiling: they end the batch.
        self.aborts_batch = number in (102, 207, 208, 911, 50001)


class ConnectionDropped(Exception):
    """Raised by a fault hook: the TDS server drops the connection without a reply."""


UNSUPPORTED = 50001


def unsupported(what: str) -> SqlError:
    return SqlError(UNSUPPORTED, f"DS lab: unsupported T-SQL: {what}. The lab runs a declared subset only.")


def syntax_error(near: str) -> SqlError:
    return SqlError(102, f"Incorrect syntax near '{near}'.", severity=15)


def invalid_object(name: str) -> SqlError:
    return SqlError(208, f"Invalid object name '{name}'.")


def invalid_column(name: str) -> SqlError:
    return SqlError(207, f"Invalid column name '{name}'.")
