"""The lab's catalog: T-SQL column facts in `lab_catalog`, creation dates in `lab_objects`,
and SQL Server's catalog views (`sys.*`, `INFORMATION_SCHEMA.*`) over them.

Each session gets the views as TEMP views named `sys_tables`, `information_schema_columns`
and so on; the translator rewrites `sys.tables` to `sys_tables`. Object ids are stable per
table name (a CRC of the lower-cased name).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import zlib
from dataclasses import dataclass

from tests.lab.tsql import server
from tests.lab.tsql.results import format_datetime

# T-SQL type -> (system_type_id, max_length in bytes of fixed-size types)
TYPES = {
    "bit": (104, 1),
    "tinyint": (48, 1),
    "smallint": (52, 2),
    "int": (56, 4),
    "bigint": (127, 8),
    "float": (62, 8),
    "decimal": (106, 9),
    "datetime": (61, 8),
    "char": (175, None),
    "varchar": (167, None),
    "nchar": (239, None),
    "nvarchar": (231, None),
    "varbinary": (165, None),
}
# INT, not INTEGER: an INTEGER PRIMARY KEY would be SQLite's rowid and fill in NULLs itself.
SQLITE_TYPES = {
    "bit": "INT",
    "tinyint": "INT",
    "smallint": "INT",
    "int": "INT",
    "bigint": "INT",
    "float": "REAL",
    "decimal": "NUMERIC",
    "datetime": "TEXT",
    "char": "TEXT COLLATE NOCASE",
    "varchar": "TEXT COLLATE NOCASE",
    "nchar": "TEXT COLLATE NOCASE",
    "nvarchar": "TEXT COLLATE NOCASE",
    "varbinary": "BLOB",
}


@dataclass
class CatalogColumn:
    name: str
    type: str
    length: int | None = None  # characters of (n)(var)char; None for (max) and fixed types
    nullable: bool = True
    identity: bool = False
    seed: int | None = None
    increment: int | None = None
    pk: int | None = None  # position in the primary key
    default: str | None = None  # SQLite expression, for CREATE TABLE only


def object_id(name: str) -> int:
    return zlib.crc32(name.lower().encode()) & 0x7FFFFFFF or 1


def object_name(name: str | None) -> str | None:
    """The table named by an OBJECT_ID() argument: 't', 'dbo.t', '[express].[dbo].[t]'."""
    if name is None:
        return None
    parts = [p.strip().strip('[]"') for p in name.split(".")]
    if len(parts) > 3 or (len(parts) == 3 and parts[0].lower() not in ("express", "")):
        return None
    if len(parts) >= 2 and parts[-2].lower() not in ("dbo", ""):
        return None
    return parts[-1]


def max_length(data_type: str, length: int | None) -> int:
    fixed = TYPES.get(data_type, (0, None))[1]
    if fixed is not None:
        return fixed
    if length is None:
        return -1  # (max)
    return length * 2 if data_type.startswith("n") else length


_USER_TABLES = (
    "SELECT m.name AS name FROM sqlite_master AS m WHERE m.type = 'table' "
    "AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name NOT LIKE 'lab\\_%' ESCAPE '\\'"
)
_TYPES_ROWS = " UNION ALL ".join(
    f"SELECT '{name}' AS name, {type_id} AS system_type_id, {type_id} AS user_type_id, "
    f"{fixed if fixed is not None else 8000} AS max_length"
    for name, (type_id, fixed) in TYPES.items()
)
_CREATED = "COALESCE((SELECT o.create_date FROM lab_objects AS o WHERE o.name = t.name), '2000-01-01 00:00:00.000')"

VIEWS = {
    "sys_tables": f"SELECT t.name COLLATE NOCASE AS name, lab_object_id(t.name) AS object_id, 1 AS schema_id, "
    f"'U' AS type, 'USER_TABLE' AS type_desc, {_CREATED} AS create_date, {_CREATED} AS modify_date "
    f"FROM ({_USER_TABLES}) AS t",
    "sys_objects": f"SELECT t.name COLLATE NOCASE AS name, lab_object_id(t.name) AS object_id, 1 AS schema_id, "
    f"'U' AS type, 'USER_TABLE' AS type_desc, {_CREATED} AS create_date, {_CREATED} AS modify_date "
    f"FROM ({_USER_TABLES}) AS t",
    "sys_types": f"SELECT name COLLATE NOCASE AS name, system_type_id, user_type_id, max_length FROM ({_TYPES_ROWS})",
    "sys_columns": "SELECT lab_object_id(c.table_name) AS object_id, c.column_name COLLATE NOCASE AS name, "
    "c.ordinal AS column_id, c.is_identity AS is_identity, c.is_nullable AS is_nullable, "
    "lab_max_length(c.data_type, c.max_length) AS max_length, "
    "lab_type_id(c.data_type) AS system_type_id, lab_type_id(c.data_type) AS user_type_id "
    "FROM lab_catalog AS c",
    "sys_identity_columns": "SELECT lab_object_id(c.table_name) AS object_id, c.column_name COLLATE NOCASE AS name, "
    "c.ordinal AS column_id, 1 AS is_identity, c.is_nullable AS is_nullable, "
    "lab_type_id(c.data_type) AS system_type_id, c.identity_seed AS seed_value, "
    "c.identity_increment AS increment_value, "
    "NULL AS last_value FROM lab_catalog AS c WHERE c.is_identity = 1",
    "information_schema_tables": "SELECT 'express' AS TABLE_CATALOG, 'dbo' AS TABLE_SCHEMA, "
    f"t.name COLLATE NOCASE AS TABLE_NAME, 'BASE TABLE' AS TABLE_TYPE FROM ({_USER_TABLES}) AS t",
    "information_schema_columns": "SELECT 'express' AS TABLE_CATALOG, 'dbo' AS TABLE_SCHEMA, "
    "c.table_name COLLATE NOCASE AS TABLE_NAME, c.column_name COLLATE NOCASE AS COLUMN_NAME, "
    "c.ordinal AS ORDINAL_POSITION, NULL AS COLUMN_DEFAULT, "
    "CASE WHEN c.is_nullable = 1 THEN 'YES' ELSE 'NO' END AS IS_NULLABLE, c.data_type AS DATA_TYPE, "
    "CASE WHEN c.data_type IN ('char', 'varchar', 'nchar', 'nvarchar', 'varbinary') "
    "THEN COALESCE(c.max_length, -1) END AS CHARACTER_MAXIMUM_LENGTH FROM lab_catalog AS c",
    "information_schema_table_constraints": "SELECT DISTINCT 'express' AS CONSTRAINT_CATALOG, "
    "'dbo' AS CONSTRAINT_SCHEMA, ('PK_' || c.table_name) COLLATE NOCASE AS CONSTRAINT_NAME, "
    "'express' AS TABLE_CATALOG, 'dbo' AS TABLE_SCHEMA, c.table_name COLLATE NOCASE AS TABLE_NAME, "
    "'PRIMARY KEY' AS CONSTRAINT_TYPE FROM lab_catalog AS c WHERE c.pk_ordinal IS NOT NULL",
    "information_schema_key_column_usage": "SELECT 'express' AS CONSTRAINT_CATALOG, 'dbo' AS CONSTRAINT_SCHEMA, "
    "('PK_' || c.table_name) COLLATE NOCASE AS CONSTRAINT_NAME, 'express' AS TABLE_CATALOG, "
    "'dbo' AS TABLE_SCHEMA, c.table_name COLLATE NOCASE AS TABLE_NAME, "
    "c.column_name COLLATE NOCASE AS COLUMN_NAME, c.pk_ordinal AS ORDINAL_POSITION "
    "FROM lab_catalog AS c WHERE c.pk_ordinal IS NOT NULL",
    "sys_database_files": server.DATABASE_FILES_VIEW,
}
VIEW_OF = {
    ("sys", "tables"): "sys_tables",
    ("sys", "objects"): "sys_objects",
    ("sys", "types"): "sys_types",
    ("sys", "columns"): "sys_columns",
    ("sys", "identity_columns"): "sys_identity_columns",
    ("information_schema", "tables"): "information_schema_tables",
    ("information_schema", "columns"): "information_schema_columns",
    ("information_schema", "table_constraints"): "information_schema_table_constraints",
    ("information_schema", "key_column_usage"): "information_schema_key_column_usage",
    ("sys", "database_files"): "sys_database_files",
}
# T-SQL types of the views' columns, for result sets (anything not listed: nvarchar). The sys views
# name their columns in lower case, INFORMATION_SCHEMA in upper case: IS_NULLABLE is 'YES'/'NO'.
VIEW_COLUMN_TYPES = {
    "object_id": "int",
    "schema_id": "int",
    "column_id": "int",
    "is_identity": "bit",
    "is_nullable": "bit",
    "max_length": "smallint",
    "system_type_id": "tinyint",
    "user_type_id": "int",
    "ORDINAL_POSITION": "int",
    "CHARACTER_MAXIMUM_LENGTH": "int",
    "seed_value": "int",
    "increment_value": "int",
    "last_value": "int",
    "create_date": "datetime",
    "modify_date": "datetime",
    "file_id": "int",
    "size": "int",
    "max_size": "int",
}

OBJECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS lab_objects (name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE, create_date TEXT NOT NULL)"
)


def prepare_database(db: sqlite3.Connection) -> None:
    """Once per database: `lab_objects` with a creation date for every table."""
    now = format_datetime(dt.datetime.now())
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(OBJECTS_DDL)
        server.prepare(db)
        db.execute(
            f"INSERT OR IGNORE INTO lab_objects (name, create_date) SELECT name, ? FROM ({_USER_TABLES})", (now,)
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def install_views(db: sqlite3.Connection) -> None:
    """The catalog views, for this connection only (the functions they use: functions.py)."""
    for name, select in VIEWS.items():
        db.execute(f"CREATE TEMP VIEW IF NOT EXISTS {name} AS {select}")


def table_name(db: sqlite3.Connection, name: str) -> str | None:
    """The stored spelling of user table `name` (names are case-insensitive), or None."""
    row = db.execute(f"SELECT name FROM ({_USER_TABLES}) WHERE lower(name) = lower(?)", (name,)).fetchone()
    return row[0] if row else None


def columns(db: sqlite3.Connection, table: str) -> list[CatalogColumn]:
    rows = db.execute(
        "SELECT column_name, data_type, max_length, is_nullable, is_identity, identity_seed, "
        "identity_increment, pk_ordinal FROM lab_catalog WHERE lower(table_name) = lower(?) ORDER BY ordinal",
        (table,),
    ).fetchall()
    return [
        CatalogColumn(name, kind, length, bool(nullable), bool(identity), seed, increment, pk)
        for name, kind, length, nullable, identity, seed, increment, pk in rows
    ]


def _record(db: sqlite3.Connection, table: str, cols: list[CatalogColumn]) -> None:
    db.execute("DELETE FROM lab_catalog WHERE lower(table_name) = lower(?)", (table,))
    for ordinal, col in enumerate(cols, start=1):
        db.execute(
            "INSERT INTO lab_catalog VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (table, ordinal, col.name, col.type, col.length, int(col.nullable), int(col.identity),
             col.seed, col.increment, col.pk),
        )  # fmt: skip


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def create_table(db: sqlite3.Connection, table: str, cols: list[CatalogColumn]) -> None:
    defs = []
    for col in cols:
        null = "" if col.nullable else " NOT NULL"
        default = f" DEFAULT ({col.default})" if col.default is not None else ""
        defs.append(f"{_quote(col.name)} {SQLITE_TYPES[col.type]}{null}{default}")
    pk = [c.name for c in sorted((c for c in cols if c.pk), key=lambda c: c.pk or 0)]
    if pk:
        defs.append("PRIMARY KEY (" + ", ".join(_quote(k) for k in pk) + ")")
    db.execute(f"CREATE TABLE {_quote(table)} ({', '.join(defs)})")
    _record(db, table, cols)
    db.execute(
        "INSERT OR REPLACE INTO lab_objects (name, create_date) VALUES (?, ?)",
        (table, format_datetime(dt.datetime.now())),
    )


def drop_table(db: sqlite3.Connection, table: str) -> None:
    db.execute(f"DROP TABLE {_quote(table)}")
    db.execute("DELETE FROM lab_catalog WHERE lower(table_name) = lower(?)", (table,))
    db.execute("DELETE FROM lab_objects WHERE name = ?", (table,))


def add_column(db: sqlite3.Connection, table: str, col: CatalogColumn) -> None:
    null = "" if col.nullable else " NOT NULL"
    default = f" DEFAULT ({col.default})" if col.default is not None else ""
    db.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(col.name)} {SQLITE_TYPES[col.type]}{null}{default}")
    _record(db, table, [*columns(db, table), col])
