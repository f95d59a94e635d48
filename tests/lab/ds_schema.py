"""The `express` database of a lab host: DS tables, their catalog and the delete triggers.

Tables are plain SQLite tables with the T-SQL names and columns. What SQLite cannot say
(T-SQL types, IDENTITY, nullability as declared) is kept in the catalog table `lab_catalog`,
which the T-SQL interpreter reads for `sys.columns` / `INFORMATION_SCHEMA` and keeps up to
date for the tables it creates itself. Datetimes are stored as ISO text
`YYYY-MM-DD HH:MM:SS.fff`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # T-SQL type name: int, nvarchar, datetime, ...
    length: int | None = None  # characters for (n)varchar
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Col, ...]
    primary_key: tuple[str, ...]


def _nv(name: str, length: int, nullable: bool = False) -> Col:
    return Col(name, "nvarchar", length, nullable)


TABLES: tuple[Table, ...] = (
    Table(
        "event_folder",
        (Col("folder_id", "int"), Col("parent_id", "int", nullable=True), _nv("name", 255)),
        ("folder_id",),
    ),
    Table(
        "event",
        (
            Col("event_id", "int"),
            Col("folder_id", "int"),
            _nv("name", 255),
            _nv("description", 1000, True),
            Col("modified", "datetime"),
        ),
        ("event_id",),
    ),
    Table(
        "event_condition",
        (Col("condition_id", "int"), Col("event_id", "int"), _nv("expression", 1000)),
        ("condition_id",),
    ),
    Table(
        "install_task",
        (
            Col("task_id", "int"),
            Col("event_id", "int"),
            Col("seq", "int"),
            _nv("package", 255),
            _nv("arguments", 1000, True),
        ),
        ("task_id",),
    ),
    Table(
        "script_task",
        (Col("task_id", "int"), Col("event_id", "int"), Col("seq", "int"), _nv("script", 4000)),
        ("task_id",),
    ),
    Table("computer", (Col("computer_id", "int"), _nv("name", 255)), ("computer_id",)),
    Table(
        "event_schedule",
        (
            Col("schedule_id", "int"),
            Col("computer_id", "int"),
            Col("event_id", "int"),
            _nv("status", 50),
            Col("start_time", "datetime"),
            Col("end_time", "datetime", nullable=True),
        ),
        ("schedule_id",),
    ),
    Table(
        "event_schedule_info",
        (
            Col("schedule_id", "int"),
            Col("info_id", "int"),
            Col("status_code", "int"),
            _nv("message", 500, True),
            Col("logged_at", "datetime"),
        ),
        ("schedule_id", "info_id"),
    ),
)

# The identity column of event_schedule when the lab runs with --identity.
IDENTITY = ("event_schedule", "schedule_id", 100000000, 1)

# As in the article's SQL trace: deleting a job deletes its tasks, conditions and history.
TRIGGERS = (
    """CREATE TRIGGER event_delete AFTER DELETE ON event BEGIN
         DELETE FROM event_condition WHERE event_id = OLD.event_id;
         DELETE FROM install_task WHERE event_id = OLD.event_id;
         DELETE FROM script_task WHERE event_id = OLD.event_id;
         DELETE FROM event_schedule WHERE event_id = OLD.event_id;
       END""",
    """CREATE TRIGGER event_schedule_delete AFTER DELETE ON event_schedule BEGIN
         DELETE FROM event_schedule_info WHERE schedule_id = OLD.schedule_id;
       END""",
)

CATALOG_DDL = """
CREATE TABLE lab_catalog (
    table_name TEXT NOT NULL COLLATE NOCASE,
    ordinal INTEGER NOT NULL,
    column_name TEXT NOT NULL COLLATE NOCASE,
    data_type TEXT NOT NULL,
    max_length INTEGER,
    is_nullable INTEGER NOT NULL,
    is_identity INTEGER NOT NULL DEFAULT 0,
    identity_seed INTEGER,
    identity_increment INTEGER,
    pk_ordinal INTEGER,
    PRIMARY KEY (table_name, ordinal)
)"""

_SQLITE_TYPES = {"int": "INTEGER", "bigint": "INTEGER", "datetime": "TEXT", "nvarchar": "TEXT"}


def _create_table(db: sqlite3.Connection, table: Table, identity: bool) -> None:
    cols = []
    for col in table.columns:
        null = "" if col.nullable else " NOT NULL"
        cols.append(f'"{col.name}" {_SQLITE_TYPES[col.type]}{null}')
    pk = ", ".join(f'"{c}"' for c in table.primary_key)
    db.execute(f'CREATE TABLE "{table.name}" ({", ".join(cols)}, PRIMARY KEY ({pk}))')
    for ordinal, col in enumerate(table.columns, start=1):
        is_identity = identity and (table.name, col.name) == IDENTITY[:2]
        pk_ordinal = table.primary_key.index(col.name) + 1 if col.name in table.primary_key else None
        db.execute(
            "INSERT INTO lab_catalog VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                table.name,
                ordinal,
                col.name,
                col.type,
                col.length,
                int(col.nullable),
                int(is_identity),
                IDENTITY[2] if is_identity else None,
                IDENTITY[3] if is_identity else None,
                pk_ordinal,
            ),
        )


def create_express(db_path: str | Path, identity: bool = False) -> None:
    """Create an empty `express` database at `db_path` (which must not exist yet)."""
    if Path(db_path).exists():
        raise FileExistsError(f"{db_path} exists already")
    db = sqlite3.connect(db_path)
    try:
        with db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(CATALOG_DDL)
            for table in TABLES:
                _create_table(db, table, identity)
            for trigger in TRIGGERS:
                db.execute(trigger)
    finally:
        db.close()


def connect(db_path: str | Path) -> sqlite3.Connection:
    """A connection for the simulated tools: waits on locks, enforces nothing else."""
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA recursive_triggers=ON")
    return db
