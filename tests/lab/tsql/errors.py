"""SQL Server errors as the lab raises them: number, severity, state and SQL Server's wording."""

from __future__ import annotations

import re

# Errors after which SQL Server stops the whole batch (compile and name-resolution errors);
# every other error ends only its statement unless XACT_ABORT is ON.
BATCH_ABORTING = frozenset({102, 137, 156, 207, 208, 911, 50001})
UNSUPPORTED = 50001


class SqlError(Exception):
    def __init__(self, number: int, message: str, severity: int = 16, state: int = 1, line: int = 1) -> None:
        super().__init__(message)
        self.number = number
        self.message = message
        self.severity = severity
        self.state = state
        self.line = line

    @property
    def aborts_batch(self) -> bool:
        return self.number in BATCH_ABORTING

    def __str__(self) -> str:
        return self.message


class ConnectionDropped(Exception):
    """Raised by a hook to make the TDS server drop the connection without a reply."""


def unsupported(what: str) -> SqlError:
    return SqlError(UNSUPPORTED, f"DS lab: unsupported T-SQL: {what}. The lab runs a declared subset only.")


def syntax_error(near: str) -> SqlError:
    return SqlError(102, f"Incorrect syntax near '{near}'.", severity=15)


def invalid_object(name: str) -> SqlError:
    return SqlError(208, f"Invalid object name '{name}'.")


def invalid_column(name: str) -> SqlError:
    return SqlError(207, f"Invalid column name '{name}'.")


def undeclared_variable(name: str) -> SqlError:
    return SqlError(137, f'Must declare the scalar variable "@{name}".', severity=15)


def null_not_allowed(table: str, column: str, verb: str = "INSERT") -> SqlError:
    """Msg 515, severity 16, state 2, as SQL Server raises it (also inside a trigger)."""
    return SqlError(
        515,
        f"Cannot insert the value NULL into column '{column}', table 'express.dbo.{table}'; column does not allow "
        f"nulls. {verb} fails.",
        state=2,
    )


def from_sqlite_not_null(message: str, verb: str = "INSERT") -> SqlError | None:
    """SQLite's "NOT NULL constraint failed: t.c" as Msg 515; None for any other message."""
    if not message.startswith("NOT NULL constraint failed"):
        return None
    table, _, column = message.split(":", 1)[1].strip().partition(".")
    return null_not_allowed(table, column, verb)


def divide_by_zero() -> SqlError:
    return SqlError(8134, "Divide by zero error encountered.")


def conversion_failed(value: object, source_type: str, target_type: str) -> SqlError:
    return SqlError(
        245, f"Conversion failed when converting the {source_type} value '{value}' to data type {target_type}."
    )


def object_exists(name: str) -> SqlError:
    return SqlError(2714, f"There is already an object named '{name}' in the database.")


def lock_timeout() -> SqlError:
    return SqlError(1222, "Lock request time out period exceeded.")


def resource_error(fault: str, statement: str, database: str = "express") -> SqlError:
    """The resource errors the lab injects as faults (faults.py), worded as SQL Server does."""
    if fault == "sql_log_full":
        message = (
            f"The transaction log for database '{database}' is full. To find out why space in the log cannot be "
            "reused, see the log_reuse_wait_desc column in sys.databases"
        )
        return SqlError(9002, message, severity=17)
    if fault == "sql_filegroup_full":
        m = re.search(r"(?is)\b(?:INTO|UPDATE|FROM)\s+(?:\[?dbo\]?\.)?\[?(\w+)\]?", statement)
        table = m.group(1) if m else "sysobjects"
        return SqlError(1105, f"Could not allocate space for object 'dbo.{table}' in database '{database}' because "
                        "the 'PRIMARY' filegroup is full. Create disk space by deleting unneeded files, dropping "
                        "objects in the filegroup, adding additional files to the filegroup, or setting autogrowth "
                        "on for existing files in the filegroup.", severity=17)  # fmt: skip
    if fault == "sql_lock_resources":
        return SqlError(1204, "The instance of the SQL Server Database Engine cannot obtain a LOCK resource at this "
                        "time. Rerun your statement when there are fewer active users. Ask the database "
                        "administrator to check the lock and memory configuration for this instance, or to check "
                        "for long-running queries.", severity=19)  # fmt: skip
    raise ValueError(f"not a resource fault: {fault}")


RESOURCE_FAULTS = ("sql_log_full", "sql_filegroup_full", "sql_lock_resources")
