"""AFTER DELETE triggers fired as SQL Server fires them: once per statement, with every row the
statement deleted in `deleted` (CREATE TRIGGER, "DML triggers": "fires once per statement"),
nested only while the server option `nested triggers` is 1, to 32 levels (Msg 217).

SQLite fires triggers once per row, so the lab splits a trigger in two:
- a native row trigger `lab_stage_<table>` only copies each deleted row (OLD) into the table
  `lab_staged_<table>`. It fails the statement (50001) unless a lab statement is open
  (`lab_statement` holds a row): a DELETE that does not go through `run_delete` would leave
  its rows staged and fire nothing, so it is refused rather than passed silently;
- `run_delete` runs the DELETE, then each enabled trigger of the table (registry
  `lab_triggers`: its body as native SQL statements) once over the staged rows, copied into
  the TEMP table `lab_deleted_<level>` that stands for `deleted`. The body's own DELETEs stage
  rows in turn; they fire their table's triggers one level deeper when `nested triggers` is in
  use, and are discarded (fire nothing) when it is off, or when the table is the trigger's own
  (RECURSIVE_TRIGGERS OFF, SQL Server's default: no direct recursion).

Every lab path that deletes from a table with triggers (the interpreter's DELETE, the simulated
aximport, TRUNCATE) calls this module; it is plain sqlite3, so the simulated tools use it too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from tests.lab.tsql.errors import SqlError, from_sqlite_not_null

# The name of `deleted` in a stored body; replaced by the TEMP table of the firing level.
DELETED = "lab_deleted_level"
MAX_NESTING = 32
NESTED_TRIGGERS = "nested triggers"
REGISTRY_DDL = (
    "CREATE TABLE IF NOT EXISTS lab_triggers (name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE, "
    "table_name TEXT NOT NULL COLLATE NOCASE, seq INTEGER NOT NULL, is_disabled INTEGER NOT NULL DEFAULT 0, "
    "body TEXT NOT NULL, indexes TEXT NOT NULL DEFAULT '[]', first INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS lab_statement (kind TEXT NOT NULL)",
)
Execute = Callable[..., sqlite3.Cursor]


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def prepare(db: sqlite3.Connection) -> None:
    for ddl in REGISTRY_DDL:
        db.execute(ddl)


def staged_table(table: str) -> str:
    return f"lab_staged_{table}"


def nesting_error() -> SqlError:
    return SqlError(217, "Maximum stored procedure, function, trigger, or view nesting level exceeded (limit 32).")


# -- the registry ---------------------------------------------------------------------------


def create(
    db: sqlite3.Connection,
    name: str,
    table: str,
    body: list[tuple[str, str | None]],
    columns: list[str],
    indexes: list[list[str]] = (),
) -> None:
    """Register trigger `name` on `table`: `body` its statements as (native SQL naming `deleted`
    as DELETED, the table it deletes from or None); `columns` the table's columns; `indexes`
    column lists of `deleted` to index (the body's correlated lookups: without them each
    lookup scans `deleted`)."""
    seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM lab_triggers").fetchone()[0]
    db.execute(
        "INSERT INTO lab_triggers (name, table_name, seq, body, indexes) VALUES (?, ?, ?, ?, ?)",
        (name, table, seq, json.dumps([list(b) for b in body]), json.dumps([list(i) for i in indexes])),
    )
    stage(db, table, columns)


def stage(db: sqlite3.Connection, table: str, columns: list[str]) -> None:
    """(Re)make the staging table and row trigger of `table` for its current `columns`."""
    staged = staged_table(table)
    db.execute(f"DROP TRIGGER IF EXISTS {_q('lab_stage_' + table)}")
    db.execute(f"DROP TABLE IF EXISTS {_q(staged)}")
    cols = ", ".join(_q(c) for c in columns)
    # the live table's declared types: the same affinity, so the body's lookups by `=` can use
    # the indexes on `deleted` (a column without affinity compared with an INTEGER one cannot)
    types = {r[1].lower(): r[2] for r in db.execute(f"PRAGMA table_xinfo({_q(table)})")}
    defs = ", ".join(f"{_q(c)} {types.get(c.lower(), '')}" for c in columns)
    db.execute(f"CREATE TABLE {_q(staged)} ({defs})")
    refuse = (
        "SELECT RAISE(ABORT, '50001|DS lab: unsupported T-SQL: a DELETE from "
        + table.replace("'", "''")
        + " outside tsql/firing.run_delete (its triggers would not fire). The lab runs a declared subset only.') "
        "WHERE NOT EXISTS (SELECT 1 FROM lab_statement)"
    )
    db.execute(
        f"CREATE TRIGGER {_q('lab_stage_' + table)} AFTER DELETE ON {_q(table)} FOR EACH ROW BEGIN {refuse}; "
        f"INSERT INTO {_q(staged)} ({cols}) VALUES ({', '.join('OLD.' + _q(c) for c in columns)}); END"
    )


def registered(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM lab_triggers WHERE name = ?", (name,)).fetchone() is not None


def drop(db: sqlite3.Connection, name: str) -> None:
    row = db.execute("SELECT table_name FROM lab_triggers WHERE name = ?", (name,)).fetchone()
    db.execute("DELETE FROM lab_triggers WHERE name = ?", (name,))
    if row and not db.execute("SELECT 1 FROM lab_triggers WHERE table_name = ?", (row[0],)).fetchone():
        unstage(db, row[0])


def unstage(db: sqlite3.Connection, table: str) -> None:
    db.execute(f"DROP TRIGGER IF EXISTS {_q('lab_stage_' + table)}")
    db.execute(f"DROP TABLE IF EXISTS {_q(staged_table(table))}")


def forget_table(db: sqlite3.Connection, table: str) -> list[str]:
    """The table is dropped: its triggers go with it (as in SQL Server). Their names."""
    names = [r[0] for r in db.execute("SELECT name FROM lab_triggers WHERE table_name = ?", (table,))]
    db.execute("DELETE FROM lab_triggers WHERE table_name = ?", (table,))
    unstage(db, table)
    return names


def restage(db: sqlite3.Connection, table: str, columns: list[str]) -> None:
    """A column was added to `table`: `deleted` has it from now on."""
    if db.execute("SELECT 1 FROM lab_triggers WHERE table_name = ?", (table,)).fetchone():
        stage(db, table, columns)


def set_disabled(db: sqlite3.Connection, table: str, name: str | None, disabled: bool) -> int:
    """DISABLE/ENABLE TRIGGER name (None: ALL) on table; the number of triggers changed."""
    if name is None:
        cursor = db.execute("UPDATE lab_triggers SET is_disabled = ? WHERE table_name = ?", (int(disabled), table))
    else:
        cursor = db.execute(
            "UPDATE lab_triggers SET is_disabled = ? WHERE table_name = ? AND name = ?", (int(disabled), table, name)
        )
    return cursor.rowcount


def set_order(db: sqlite3.Connection, name: str, order: int) -> None:
    """sp_settriggerorder: 1 First, -1 Last, 0 None. A table has one First and one Last for a
    statement type: SQL Server refuses a second one with Msg 15130, severity 16, "There already
    exists a '%s' trigger for '%s'." (docs, "Database engine events and errors 15000-15999")."""
    table = db.execute("SELECT table_name FROM lab_triggers WHERE name = ?", (name,)).fetchone()[0]
    taken = db.execute(
        "SELECT name FROM lab_triggers WHERE table_name = ? AND first = ? AND name <> ?", (table, order, name)
    ).fetchone()
    if order and taken:
        raise SqlError(15130, f"There already exists a '{'First' if order > 0 else 'Last'}' trigger for 'DELETE'.")
    db.execute("UPDATE lab_triggers SET first = ? WHERE name = ?", (order, name))


def enabled_triggers(db: sqlite3.Connection, table: str) -> list[str]:
    sql = "SELECT name FROM lab_triggers WHERE table_name = ? AND is_disabled = 0 ORDER BY seq"
    return [r[0] for r in db.execute(sql, (table,))]


def triggers_of(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM lab_triggers WHERE table_name = ? ORDER BY seq", (table,))]


# -- the server option -------------------------------------------------------------------------


def nested_triggers(db: sqlite3.Connection) -> bool:
    """`nested triggers` as in use (sys.configurations.value_in_use; server.py keeps it)."""
    row = db.execute("SELECT value FROM lab_server WHERE name = 'nested_triggers_in_use'").fetchone()
    return row is None or str(row[0]) != "0"


# -- running a statement -------------------------------------------------------------------------


def run_delete(
    db: sqlite3.Connection, table: str, sql: str, params: dict | tuple = (), execute: Execute | None = None
) -> int:
    """Run `sql`, a DELETE from `table`, and fire the table's AFTER DELETE triggers once for the
    statement, also when it deleted no row (SQL Server fires them for zero rows too). Atomic:
    an error in a trigger undoes the statement and everything its triggers did. Returns the rows
    the statement itself deleted."""
    return _statement(db, "delete", table, sql, params, execute or db.execute)


def run_truncate(db: sqlite3.Connection, table: str, execute: Execute | None = None) -> int:
    """TRUNCATE TABLE: every row goes, no trigger fires (SQL Server: TRUNCATE TABLE does not
    fire DELETE triggers)."""
    return _statement(db, "truncate", table, f"DELETE FROM {_q(table)}", (), execute or db.execute)


def _statement(db: sqlite3.Connection, kind: str, table: str, sql: str, params: dict | tuple, execute: Execute) -> int:
    db.execute("SAVEPOINT lab_firing")
    try:
        db.execute("INSERT INTO lab_statement (kind) VALUES (?)", (kind,))
        execute(sql, params)
        count = db.execute("SELECT changes()").fetchone()[0]
        if kind == "delete":
            _after_delete(db, execute, table, 1, None)
        _discard_staged(db)
        db.execute("DELETE FROM lab_statement")
    except BaseException:
        db.execute("ROLLBACK TO lab_firing")
        db.execute("RELEASE lab_firing")
        raise
    db.execute("RELEASE lab_firing")
    return count


def _discard_staged(db: sqlite3.Connection, tables: list[str] | None = None) -> None:
    if tables is None:
        tables = [r[0] for r in db.execute("SELECT DISTINCT table_name FROM lab_triggers")]
    for table in tables:
        db.execute(f"DELETE FROM {_q(staged_table(table))}")


def _after_delete(db: sqlite3.Connection, execute: Execute, table: str, level: int, by: str | None) -> None:
    """A DELETE from `table` is done: fire its triggers at nesting `level`; `by`, the trigger
    whose statement it was (None: the client's)."""
    if not db.execute("SELECT 1 FROM lab_triggers WHERE table_name = ?", (table,)).fetchone():
        return  # no trigger, nothing staged
    if level > 1 and not nested_triggers(db):
        _discard_staged(db, [table])  # nested triggers off: a trigger's statement fires nothing
        return
    # RECURSIVE_TRIGGERS OFF (SQL Server's default): a trigger does not fire itself again
    rows = db.execute(
        "SELECT name, body, indexes FROM lab_triggers WHERE table_name = ? AND is_disabled = 0 "
        "AND name <> COALESCE(?, '') ORDER BY first DESC, seq",
        (table, by),
    ).fetchall()
    if not rows:
        _discard_staged(db, [table])
        return
    if level > MAX_NESTING:
        raise nesting_error()
    deleted = f"lab_deleted_{level}"
    db.execute(f"DROP TABLE IF EXISTS temp.{_q(deleted)}")
    db.execute(f"CREATE TEMP TABLE {_q(deleted)} AS SELECT * FROM {_q(staged_table(table))}")
    db.execute(f"DELETE FROM {_q(staged_table(table))}")
    try:
        made: set[tuple[str, ...]] = set()
        for name, body, indexes in rows:
            for columns in json.loads(indexes):
                if tuple(columns) not in made:
                    made.add(tuple(columns))
                    index = _q(f"{deleted}_{len(made)}")
                    db.execute(f"CREATE INDEX temp.{index} ON {_q(deleted)} ({', '.join(_q(c) for c in columns)})")
            for sql, target in json.loads(body):
                _run_in_trigger(db, execute, sql.replace(DELETED, deleted), level)
                if target is not None:
                    _after_delete(db, execute, target, level + 1, name)
    finally:
        db.execute(f"DROP TABLE IF EXISTS temp.{_q(deleted)}")


def _run_in_trigger(db: sqlite3.Connection, execute: Execute, sql: str, level: int) -> None:
    """One statement of a body, run as the program of a one-shot TEMP trigger: its RAISE(ABORT)
    checks (native.raise_sql) work only inside a trigger program."""
    go, run = _q(f"lab_go_{level}"), _q(f"lab_run_{level}")
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {go} (x)")
    db.execute(f"DROP TRIGGER IF EXISTS temp.{run}")
    db.execute(f"CREATE TEMP TRIGGER {run} AFTER INSERT ON {go} BEGIN {sql}; END")
    try:
        execute(f"INSERT INTO temp.{go} (x) VALUES (1)")
    except sqlite3.IntegrityError as error:  # a plain connection's (a DS tool's): as SQL Server words it
        from tests.lab.tsql.native import raised_error  # native imports this module

        converted = raised_error(str(error)) or from_sqlite_not_null(str(error))
        if converted is None:
            raise
        raise converted from None
    finally:
        db.execute(f"DROP TRIGGER IF EXISTS temp.{run}")
        db.execute(f"DELETE FROM temp.{go}")
