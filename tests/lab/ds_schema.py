"""The `express` database of a lab host: DS tables, their catalog and the delete triggers.

Tables are plain SQLite tables with the T-SQL names and columns. What SQLite cannot say
(T-SQL types, IDENTITY, nullability as declared) is kept in the catalog table `lab_catalog`,
which the T-SQL interpreter reads for `sys.columns` / `INFORMATION_SCHEMA` and keeps up to
date for the tables it creates itself. Datetimes are stored as ISO text
`YYYY-MM-DD HH:MM:SS.fff`.

`SCHEMAS` are variants of the database a real DS might have (tests/lab/README.md); the one a
database was made with is in `lab_settings` (`schema_of`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

from tests.lab.tsql import collation, firing, keys, server, who


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # T-SQL type name: int, nvarchar, datetime, ...
    length: int | None = None  # characters for (n)varchar
    nullable: bool = False
    computed: str | None = None  # expression of a computed column (T-SQL and SQLite alike)
    collation: str | None = None  # of a character column; None: the database default (tsql/collation.py)


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Col, ...]
    primary_key: tuple[str, ...]
    unique_indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, columns)
    foreign_keys: tuple[ForeignKey, ...] = ()


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
# T-SQL AFTER DELETE triggers, fired once per statement (tsql/firing.py): (name, table, body),
# the body's statements as (native SQL naming `deleted` as firing.DELETED, the table it deletes
# from). The event_schedule rows event_delete deletes fire event_schedule_delete one level down:
# a nested trigger, which runs only while the server option `nested triggers` is 1.
TRIGGERS = (
    (
        "event_delete",
        "event",
        tuple(
            (f"DELETE FROM {table} WHERE event_id IN (SELECT event_id FROM {firing.DELETED})", table)
            for table in ("event_condition", "install_task", "script_task", "event_schedule")
        ),
    ),
    (
        "event_schedule_delete",
        "event_schedule",
        (
            (
                f"DELETE FROM event_schedule_info WHERE schedule_id IN (SELECT schedule_id FROM {firing.DELETED})",
                "event_schedule_info",
            ),
        ),
    ),
)

# Schema variants (tests/lab/README.md): what each changes against `default`.
SCHEMAS = {
    "default": "the DS schema as the article describes it",
    "info_unique_index": "event_schedule_info: no primary key, a UNIQUE INDEX on (schedule_id, info_id)",
    "info_no_key": "event_schedule_info: no key at all; the seed leaves some messages NULL",
    "info_duplicates": "event_schedule_info: no key at all, as info_no_key; the seed writes every fourth detail "
    "row twice (an exact duplicate pair)",
    "reused_keys": "event_schedule.schedule_id assigned by the application as MAX + 1 (next_schedule_id)",
    "rowversion_computed": "event_schedule: a rowversion column row_version and a computed column duration_s",
    "fk_computer": "event_schedule.computer_id: a FOREIGN KEY to computer (no cascade)",
    "insert_trigger": "event_schedule: an AFTER INSERT trigger writes an event_schedule_info row (info_id 0)",
    "ntext_history": "event_schedule_info.message is ntext, as in a DS of the SQL Server 2000 era (keyed table)",
    "ntext_not_null": "event_schedule_info.message is ntext NOT NULL (ntext_history, but every row has a message)",
    "british_login": "the SQL login's default language is British: 'YYYY-MM-DD hh:mm:ss' reads year-day-month",
    "history_collation": "the history tables' character columns (event_schedule.status, event_schedule_info.message) "
    "are Latin1_General_CS_AS, not the database default SQL_Latin1_General_CP1_CI_AS",
}
# The collation of the history's character columns in schema history_collation: case-sensitive,
# where the database (and the package's other tables) compare case-insensitively.
HISTORY_COLLATION = "Latin1_General_CS_AS"
INFO_UNIQUE_INDEX = "IX_event_schedule_info_schedule_info"
FK_COMPUTER = ForeignKey("FK_event_schedule_computer", ("computer_id",), "computer", ("computer_id",))
INSERT_TRIGGER = """CREATE TRIGGER event_schedule_insert AFTER INSERT ON event_schedule BEGIN
         INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at)
         VALUES (NEW.schedule_id, 0, 0, 'scheduled', NEW.start_time);
       END"""


def tables(schema: str = "default") -> tuple[Table, ...]:
    """The DS tables of a schema variant."""
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r}; schemas: {', '.join(SCHEMAS)}")
    by_name = {t.name: t for t in TABLES}
    info, history = by_name["event_schedule_info"], by_name["event_schedule"]
    if schema == "info_unique_index":
        by_name[info.name] = replace(info, primary_key=(), unique_indexes=((INFO_UNIQUE_INDEX, info.primary_key),))
    elif schema in ("info_no_key", "info_duplicates"):
        by_name[info.name] = replace(info, primary_key=())
    elif schema == "rowversion_computed":
        extra = (
            Col("row_version", "timestamp"),
            Col("duration_s", "int", nullable=True, computed="schedule_id % 1000"),
        )
        by_name[history.name] = replace(history, columns=history.columns + extra)
    elif schema in ("ntext_history", "ntext_not_null"):
        nullable = schema == "ntext_history"
        columns = tuple(Col(c.name, "ntext", None, nullable) if c.name == "message" else c for c in info.columns)
        by_name[info.name] = replace(info, columns=columns)
    elif schema == "fk_computer":
        by_name[history.name] = replace(history, foreign_keys=(FK_COMPUTER,))
    elif schema == "history_collation":
        for table in (history, info):
            columns = tuple(
                replace(c, collation=HISTORY_COLLATION) if c.type == "nvarchar" else c for c in table.columns
            )
            by_name[table.name] = replace(table, columns=columns)
    return tuple(by_name.values())


def native_triggers(schema: str = "default") -> tuple[str, ...]:
    """Native SQLite triggers of a variant: the AFTER INSERT one, whose body relates each new
    row to nothing but itself, so once per row is the same as once per statement."""
    return (INSERT_TRIGGER,) if schema == "insert_trigger" else ()


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
    is_computed INTEGER NOT NULL DEFAULT 0,
    collation_name TEXT,
    PRIMARY KEY (table_name, ordinal)
)"""
CATALOG_COLUMNS = (
    "table_name, ordinal, column_name, data_type, max_length, is_nullable, is_identity, identity_seed, "
    "identity_increment, pk_ordinal, is_computed, collation_name"
)
# APP_NAME() of a lab tool's plain connection (the seed, the tests' own deletes)
LAB_TOOL_PROGRAM = "DS lab tool"
SETTINGS_DDL = "CREATE TABLE lab_settings (name TEXT NOT NULL PRIMARY KEY, value TEXT)"

_SQLITE_TYPES = {"int": "INTEGER", "bigint": "INTEGER", "datetime": "TEXT", "nvarchar": "TEXT", "timestamp": "INTEGER",
                 "ntext": "TEXT"}  # fmt: skip


def _collation(col: Col) -> str | None:
    """A character column's collation: its own, else the database default (SERVERPROPERTY('Collation'))."""
    return (col.collation or server.DEFAULTS["collation"]) if collation.is_character(col.type) else None


def _sqlite_type(col: Col) -> str:
    """A character column compares, and is indexed, as its collation does (tsql/collation.py)."""
    if collation.is_character(col.type):
        return f"TEXT COLLATE {collation.sqlite_collation(_collation(col))}"
    return _SQLITE_TYPES[col.type]


def _create_table(db: sqlite3.Connection, table: Table, identity: bool) -> None:
    cols = []
    for col in table.columns:
        if col.computed:
            cols.append(f'"{col.name}" {_sqlite_type(col)} GENERATED ALWAYS AS ({col.computed}) VIRTUAL')
            continue
        # a timestamp column is filled in by a trigger after the insert: NULL until then
        null = "" if col.nullable or col.type == "timestamp" else " NOT NULL"
        cols.append(f'"{col.name}" {_sqlite_type(col)}{null}')
    if table.primary_key:
        cols.append(f"PRIMARY KEY ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in table.primary_key)})")
    for fk in table.foreign_keys:
        cols.append(keys.foreign_key_clause(list(fk.columns), fk.ref_table, list(fk.ref_columns)))
    db.execute(f'CREATE TABLE "{table.name}" ({", ".join(cols)})')
    for ordinal, col in enumerate(table.columns, start=1):
        is_identity = identity and (table.name, col.name) == IDENTITY[:2]
        pk_ordinal = table.primary_key.index(col.name) + 1 if col.name in table.primary_key else None
        db.execute(
            f"INSERT INTO lab_catalog ({CATALOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                int(col.computed is not None),
                _collation(col),
            ),
        )
    nullable = {c.name for c in table.columns if c.nullable}
    for name, columns in table.unique_indexes:
        keys.create_index(db, table.name, name, list(columns), True, nullable)
    for fk in table.foreign_keys:
        keys.record_foreign_key(db, fk.name, table.name, list(fk.columns), fk.ref_table, list(fk.ref_columns))
    stamped = [c.name for c in table.columns if c.type == "timestamp"]
    if stamped:
        others = [c.name for c in table.columns if c.type != "timestamp" and not c.computed]
        keys.rowversion_upkeep(db, table.name, stamped[0], others)


def create_express(db_path: str | Path, identity: bool = False, schema: str = "default") -> None:
    """Create an empty `express` database at `db_path` (which must not exist yet)."""
    if Path(db_path).exists():
        raise FileExistsError(f"{db_path} exists already")
    chosen = tables(schema)
    if identity and schema == "reused_keys":
        raise ValueError("schema reused_keys assigns schedule_id itself (MAX + 1): it cannot have an IDENTITY column")
    db = sqlite3.connect(db_path)
    try:
        with db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(CATALOG_DDL)
            db.execute(SETTINGS_DDL)
            db.executemany(
                "INSERT INTO lab_settings (name, value) VALUES (?, ?)",
                [("schema", schema), ("identity", str(int(identity)))]
                + ([("login_language", "British")] if schema == "british_login" else []),
            )
            keys.create_tables(db)
            for table in chosen:
                _create_table(db, table, identity)
            firing.prepare(db)
            server.prepare(db)
            columns = {t.name: [c.name for c in t.columns] for t in chosen}
            for name, table, body in TRIGGERS:
                firing.create(db, name, table, list(body), columns[table])
            for trigger in native_triggers(schema):
                db.execute(trigger)
    finally:
        db.close()


def schema_of(db: sqlite3.Connection) -> str:
    """The schema variant the database was made with."""
    row = db.execute("SELECT value FROM lab_settings WHERE name = 'schema'").fetchone()
    return row[0] if row else "default"


def next_schedule_id(db: sqlite3.Connection) -> int:
    """The key schema `reused_keys` gives a new history row, as the application does: MAX + 1.
    A deleted row's key comes back. Call it in the transaction that inserts the row."""
    return db.execute("SELECT COALESCE(MAX(schedule_id), 0) + 1 FROM event_schedule").fetchone()[0]


def connect(db_path: str | Path, identity: who.Identity | None = None) -> sqlite3.Connection:
    """A connection for the simulated tools: waits on locks, enforces nothing else. `identity`:
    the session a trigger sees delete through it (APP_NAME(), ...: tsql/who.py); by default a
    lab tool's own, named as such."""
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA recursive_triggers=ON")
    who.open_session(db, identity or who.Identity(who.next_spid(), LAB_TOOL_PROGRAM, "DSLAB", "sa"))
    return db
