"""Unique indexes, foreign keys and rowversion columns: what SQLite enforces for them, and the
lab tables that give them their SQL Server names for the catalog views and the errors.

- `lab_indexes`: one row per key column of each index made by CREATE [UNIQUE] INDEX (T-SQL or
  ds_schema). A nullable key column of a unique index is indexed as `ifnull(col, NULL_KEY)`,
  so that, as in SQL Server, two NULLs are duplicates (SQLite alone lets them both in).
- `lab_foreign_keys`: the name and columns of each FOREIGN KEY (SQLite keeps no names).
- `lab_rowversion`: the database's rowversion counter (@@DBTS). A table with a timestamp
  column gets two lab triggers (`lab_rv_*`, hidden from sys.triggers) that stamp a row when
  it is inserted or changed, whichever connection writes it.
"""

from __future__ import annotations

import sqlite3

# A key no real value equals (a BLOB never equals a number or a string in SQLite).
NULL_KEY = "x'4c61624e756c6c4b6579'"
FIRST_ROWVERSION = 2000  # SQL Server's counter of a new database starts in the thousands, too

DDL = (
    "CREATE TABLE IF NOT EXISTS lab_indexes (table_name TEXT NOT NULL COLLATE NOCASE, "
    "index_name TEXT NOT NULL COLLATE NOCASE, index_id INTEGER NOT NULL, is_unique INTEGER NOT NULL, "
    "key_ordinal INTEGER NOT NULL, column_name TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (index_name, key_ordinal))",
    "CREATE TABLE IF NOT EXISTS lab_foreign_keys (name TEXT NOT NULL COLLATE NOCASE, "
    "table_name TEXT NOT NULL COLLATE NOCASE, ref_table TEXT NOT NULL COLLATE NOCASE, ordinal INTEGER NOT NULL, "
    "column_name TEXT NOT NULL COLLATE NOCASE, ref_column TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (name, ordinal))",
    "CREATE TABLE IF NOT EXISTS lab_rowversion (value INTEGER NOT NULL)",
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_tables(db: sqlite3.Connection) -> None:
    for ddl in DDL:
        db.execute(ddl)
    if db.execute("SELECT COUNT(*) FROM lab_rowversion").fetchone()[0] == 0:
        db.execute("INSERT INTO lab_rowversion (value) VALUES (?)", (FIRST_ROWVERSION,))


# -- indexes ----------------------------------------------------------------------------------


def create_index(
    db: sqlite3.Connection, table: str, name: str, columns: list[str], unique: bool, nullable: set[str]
) -> None:
    keys = [f"ifnull({_q(c)}, {NULL_KEY})" if unique and c.lower() in nullable else _q(c) for c in columns]
    db.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {_q(name)} ON {_q(table)} ({', '.join(keys)})")
    index_id = db.execute(
        "SELECT COALESCE(MAX(index_id), 1) + 1 FROM lab_indexes WHERE table_name = ?", (table,)
    ).fetchone()[0]
    for ordinal, column in enumerate(columns, start=1):
        db.execute(
            "INSERT INTO lab_indexes (table_name, index_name, index_id, is_unique, key_ordinal, column_name) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (table, name, index_id, int(unique), ordinal, column),
        )


def index_name(db: sqlite3.Connection, name: str) -> tuple[str, str] | None:
    """(table, stored name) of index `name`, or None."""
    row = db.execute("SELECT table_name, index_name FROM lab_indexes WHERE index_name = ?", (name,)).fetchone()
    return (row[0], row[1]) if row else None


def unique_index_on(db: sqlite3.Connection, table: str, columns: list[str]) -> str | None:
    """The unique index of `table` whose key is exactly `columns`, or None."""
    rows = db.execute(
        "SELECT index_name, column_name FROM lab_indexes WHERE table_name = ? AND is_unique = 1 "
        "ORDER BY index_id, key_ordinal",
        (table,),
    ).fetchall()
    by_index: dict[str, list[str]] = {}
    for name, column in rows:
        by_index.setdefault(name, []).append(column.lower())
    wanted = [c.lower() for c in columns]
    return next((name for name, cols in by_index.items() if cols == wanted), None)


def index_columns(db: sqlite3.Connection, name: str) -> list[str]:
    rows = db.execute("SELECT column_name FROM lab_indexes WHERE index_name = ? ORDER BY key_ordinal", (name,))
    return [r[0] for r in rows]


def index_on_column(db: sqlite3.Connection, table: str, column: str) -> str | None:
    """The name of an index of `table` with `column` among its keys, if any."""
    row = db.execute(
        "SELECT index_name FROM lab_indexes WHERE lower(table_name) = lower(?) AND lower(column_name) = lower(?) "
        "ORDER BY index_id LIMIT 1",
        (table, column),
    ).fetchone()
    return row[0] if row else None


def forget_table(db: sqlite3.Connection, table: str) -> None:
    """A dropped table's indexes and foreign keys (SQLite drops the indexes themselves)."""
    db.execute("DELETE FROM lab_indexes WHERE table_name = ?", (table,))
    db.execute("DELETE FROM lab_foreign_keys WHERE table_name = ?", (table,))


# -- foreign keys -----------------------------------------------------------------------------


def foreign_key_clause(columns: list[str], ref_table: str, ref_columns: list[str]) -> str:
    """For CREATE TABLE: SQLite knows a foreign key only from the table's definition."""
    cols, refs = ", ".join(_q(c) for c in columns), ", ".join(_q(c) for c in ref_columns)
    return f"FOREIGN KEY ({cols}) REFERENCES {_q(ref_table)} ({refs})"


def record_foreign_key(
    db: sqlite3.Connection, name: str, table: str, columns: list[str], ref_table: str, ref_columns: list[str]
) -> None:
    for ordinal, (column, ref) in enumerate(zip(columns, ref_columns, strict=True), start=1):
        db.execute(
            "INSERT INTO lab_foreign_keys (name, table_name, ref_table, ordinal, column_name, ref_column) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, table, ref_table, ordinal, column, ref),
        )


def referenced_by(db: sqlite3.Connection, table: str) -> list[str]:
    """Foreign keys of other tables that reference `table`."""
    rows = db.execute(
        "SELECT DISTINCT name FROM lab_foreign_keys WHERE ref_table = ? AND table_name <> ref_table", (table,)
    )
    return [r[0] for r in rows]


def foreign_key_name(db: sqlite3.Connection, table: str, ref_table: str, column: str) -> str:
    row = db.execute(
        "SELECT name FROM lab_foreign_keys WHERE table_name = ? AND ref_table = ? AND column_name = ?",
        (table, ref_table, column),
    ).fetchone()
    return row[0] if row else f"FK_{table}_{ref_table}"


# -- rowversion -------------------------------------------------------------------------------


def rowversion_upkeep(db: sqlite3.Connection, table: str, column: str, others: list[str]) -> None:
    """Stamp `column` of each row inserted or changed (not for the stamping UPDATE itself: it
    changes `column` only, and the update trigger watches the other columns)."""
    stamp = (
        "UPDATE lab_rowversion SET value = value + 1; "
        f"UPDATE {_q(table)} SET {_q(column)} = (SELECT value FROM lab_rowversion) WHERE rowid = NEW.rowid;"
    )
    db.execute(f"CREATE TRIGGER {_q('lab_rv_insert_' + table)} AFTER INSERT ON {_q(table)} BEGIN {stamp} END")
    if others:
        watched = ", ".join(_q(c) for c in others)
        db.execute(
            f"CREATE TRIGGER {_q('lab_rv_update_' + table)} AFTER UPDATE OF {watched} ON {_q(table)} BEGIN {stamp} END"
        )
