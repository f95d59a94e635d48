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

from tests.lab.tsql import collation, firing, keys, server
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
    "timestamp": (189, 8),
    # LOB types of SQL Server 2000: sys.columns.max_length is 16 (the text pointer)
    "text": (35, 16),
    "ntext": (99, 16),
    "image": (34, 16),
}
# text, ntext and image: the types an AFTER trigger cannot read from inserted/deleted (Msg 311)
# and that `=`, ORDER BY, GROUP BY and DISTINCT refuse (Msg 402, 306, 421). The (max) types
# that replaced them in SQL Server 2005 are ordinary strings and are not in this set.
LOB_TYPES = frozenset({"text", "ntext", "image"})
# The type a LOB compares as once CAST (SQL Server's own advice: CAST to the (max) types).
LOB_CAST = {"text": "varchar", "ntext": "nvarchar", "image": "varbinary"}
# sys.columns precision and scale (0 for the others)
PRECISION = {"bit": (1, 0), "tinyint": (3, 0), "smallint": (5, 0), "int": (10, 0), "bigint": (19, 0),
             "float": (53, 0), "decimal": (18, 0), "datetime": (23, 3)}  # fmt: skip
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
    "timestamp": "INT",  # the counter's value; sent to clients as binary(8)
    "text": "TEXT COLLATE NOCASE",
    "ntext": "TEXT COLLATE NOCASE",
    "image": "BLOB",
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
    computed: bool = False
    expression: str | None = None  # SQLite expression of a computed column, for CREATE TABLE only
    collation: str | None = None  # of a character column (None: the database default); collation.py


def is_lob(column: CatalogColumn | str) -> bool:
    """A text, ntext or image column (or type name): see LOB_TYPES."""
    kind = column if isinstance(column, str) else column.type
    return kind.lower() in LOB_TYPES


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
# The T-SQL triggers (firing.py's registry) and native triggers of the DS schema; the lab's own
# native triggers (lab_*: rowversion upkeep, staging of deleted rows) are not SQL Server objects.
_USER_TRIGGERS = (
    "SELECT r.name AS name, r.table_name AS tbl_name, r.is_disabled AS is_disabled FROM lab_triggers AS r "
    "UNION ALL SELECT m.name, m.tbl_name, 0 FROM sqlite_master AS m WHERE m.type = 'trigger' "
    "AND m.name NOT LIKE 'lab\\_%' ESCAPE '\\'"
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
    f"0 AS parent_object_id, 'U' AS type, 'USER_TABLE' AS type_desc, {_CREATED} AS create_date, "
    f"{_CREATED} AS modify_date FROM ({_USER_TABLES}) AS t "
    f"UNION ALL SELECT t.name COLLATE NOCASE, lab_object_id(t.name), 1, lab_object_id(t.tbl_name), 'TR', "
    f"'SQL_TRIGGER', {_CREATED}, {_CREATED} FROM ({_USER_TRIGGERS}) AS t",
    "sys_triggers": f"SELECT t.name COLLATE NOCASE AS name, lab_object_id(t.name) AS object_id, 1 AS parent_class, "
    "lab_object_id(t.tbl_name) AS parent_id, 'TR' AS type, 'SQL_TRIGGER' AS type_desc, "
    f"{_CREATED} AS create_date, {_CREATED} AS modify_date, 0 AS is_ms_shipped, t.is_disabled AS is_disabled, "
    f"0 AS is_not_for_replication, 0 AS is_instead_of_trigger FROM ({_USER_TRIGGERS}) AS t",
    # sys.trigger_events (SQL Server docs): one row per trigger and statement type; DML types 1
    # INSERT, 2 UPDATE, 3 DELETE; is_first / is_last as sp_settriggerorder set them.
    "sys_trigger_events": "SELECT lab_object_id(r.name) AS object_id, 3 AS type, 'DELETE' AS type_desc, "
    "CASE WHEN r.first = 1 THEN 1 ELSE 0 END AS is_first, CASE WHEN r.first = -1 THEN 1 ELSE 0 END AS is_last, "
    "NULL AS event_group_type, NULL AS event_group_type_desc, 1 AS is_trigger_event FROM lab_triggers AS r "
    "UNION ALL SELECT lab_object_id(m.name), 1, 'INSERT', 0, 0, NULL, NULL, 1 FROM sqlite_master AS m "
    "WHERE m.type = 'trigger' AND m.name NOT LIKE 'lab\\_%' ESCAPE '\\'",
    "sys_types": f"SELECT name COLLATE NOCASE AS name, system_type_id, user_type_id, max_length FROM ({_TYPES_ROWS})",
    "sys_columns": "SELECT lab_object_id(c.table_name) AS object_id, c.column_name COLLATE NOCASE AS name, "
    "c.ordinal AS column_id, c.is_identity AS is_identity, c.is_nullable AS is_nullable, "
    "c.is_computed AS is_computed, lab_max_length(c.data_type, c.max_length) AS max_length, "
    "lab_precision(c.data_type, 0) AS precision, lab_precision(c.data_type, 1) AS scale, "
    "lab_type_id(c.data_type) AS system_type_id, lab_type_id(c.data_type) AS user_type_id, "
    "c.collation_name AS collation_name FROM lab_catalog AS c",
    # SQL Server: index 0 is a heap, 1 the clustered primary key, 2.. the other indexes
    "sys_indexes": "SELECT lab_object_id(t.name) AS object_id, NULL AS name, 0 AS index_id, 0 AS type, "
    "'HEAP' AS type_desc, 0 AS is_unique, 0 AS is_primary_key, 0 AS is_unique_constraint "
    f"FROM ({_USER_TABLES}) AS t WHERE NOT EXISTS (SELECT 1 FROM lab_catalog AS c "
    "WHERE c.table_name = t.name AND c.pk_ordinal IS NOT NULL) "
    "UNION ALL SELECT DISTINCT lab_object_id(c.table_name), ('PK_' || c.table_name) COLLATE NOCASE, 1, 1, "
    "'CLUSTERED', 1, 1, 0 FROM lab_catalog AS c WHERE c.pk_ordinal IS NOT NULL "
    "UNION ALL SELECT DISTINCT lab_object_id(i.table_name), i.index_name COLLATE NOCASE, i.index_id, 2, "
    "'NONCLUSTERED', i.is_unique, 0, 0 FROM lab_indexes AS i",
    "sys_index_columns": "SELECT lab_object_id(c.table_name) AS object_id, 1 AS index_id, "
    "c.pk_ordinal AS index_column_id, c.ordinal AS column_id, c.pk_ordinal AS key_ordinal, "
    "0 AS is_descending_key, 0 AS is_included_column FROM lab_catalog AS c WHERE c.pk_ordinal IS NOT NULL "
    "UNION ALL SELECT lab_object_id(i.table_name), i.index_id, i.key_ordinal, c.ordinal, i.key_ordinal, 0, 0 "
    "FROM lab_indexes AS i JOIN lab_catalog AS c ON c.table_name = i.table_name AND c.column_name = i.column_name",
    "sys_foreign_keys": "SELECT DISTINCT f.name COLLATE NOCASE AS name, lab_object_id(f.name) AS object_id, "
    "1 AS schema_id, lab_object_id(f.table_name) AS parent_object_id, "
    "lab_object_id(f.ref_table) AS referenced_object_id, 'F' AS type, 'FOREIGN_KEY_CONSTRAINT' AS type_desc, "
    "0 AS is_disabled, 0 AS delete_referential_action, 'NO_ACTION' AS delete_referential_action_desc "
    "FROM lab_foreign_keys AS f",
    "sys_foreign_key_columns": "SELECT lab_object_id(f.name) AS constraint_object_id, "
    "f.ordinal AS constraint_column_id, lab_object_id(f.table_name) AS parent_object_id, "
    "c.ordinal AS parent_column_id, lab_object_id(f.ref_table) AS referenced_object_id, "
    "r.ordinal AS referenced_column_id FROM lab_foreign_keys AS f "
    "JOIN lab_catalog AS c ON c.table_name = f.table_name AND c.column_name = f.column_name "
    "JOIN lab_catalog AS r ON r.table_name = f.ref_table AND r.column_name = f.ref_column",
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
    "THEN COALESCE(c.max_length, -1) WHEN c.data_type = 'ntext' THEN 1073741823 "
    "WHEN c.data_type IN ('text', 'image') THEN 2147483647 END AS CHARACTER_MAXIMUM_LENGTH, "
    "c.collation_name AS COLLATION_NAME FROM lab_catalog AS c",
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
    "sys_configurations": server.CONFIGURATIONS_VIEW,
    "sys_databases": server.DATABASES_VIEW,
}
VIEW_OF = {
    ("sys", "tables"): "sys_tables",
    ("sys", "objects"): "sys_objects",
    ("sys", "triggers"): "sys_triggers",
    ("sys", "trigger_events"): "sys_trigger_events",
    ("sys", "types"): "sys_types",
    ("sys", "columns"): "sys_columns",
    ("sys", "indexes"): "sys_indexes",
    ("sys", "index_columns"): "sys_index_columns",
    ("sys", "foreign_keys"): "sys_foreign_keys",
    ("sys", "foreign_key_columns"): "sys_foreign_key_columns",
    ("sys", "identity_columns"): "sys_identity_columns",
    ("information_schema", "tables"): "information_schema_tables",
    ("information_schema", "columns"): "information_schema_columns",
    ("information_schema", "table_constraints"): "information_schema_table_constraints",
    ("information_schema", "key_column_usage"): "information_schema_key_column_usage",
    ("sys", "database_files"): "sys_database_files",
    ("sys", "configurations"): "sys_configurations",
    ("sys", "databases"): "sys_databases",
}
# T-SQL types of the views' columns, for result sets (anything not listed: nvarchar). The sys views
# name their columns in lower case, INFORMATION_SCHEMA in upper case: IS_NULLABLE is 'YES'/'NO'.
VIEW_COLUMN_TYPES = {
    "database_id": "int",
    "recovery_model": "tinyint",
    "compatibility_level": "tinyint",
    "object_id": "int",
    "schema_id": "int",
    "column_id": "int",
    "is_identity": "bit",
    "is_nullable": "bit",
    "is_first": "bit",
    "is_last": "bit",
    "max_length": "smallint",
    "system_type_id": "tinyint",
    "user_type_id": "int",
    "ORDINAL_POSITION": "int",
    "CHARACTER_MAXIMUM_LENGTH": "int",
    "seed_value": "int",
    "increment_value": "int",
    "last_value": "int",
    "create_date": "datetime",
    "parent_object_id": "int",
    "parent_id": "int",
    "parent_class": "tinyint",
    "is_ms_shipped": "bit",
    "is_disabled": "bit",
    "is_not_for_replication": "bit",
    "is_instead_of_trigger": "bit",
    "is_computed": "bit",
    "precision": "tinyint",
    "scale": "tinyint",
    "index_id": "int",
    "index_column_id": "int",
    "key_ordinal": "tinyint",
    "is_descending_key": "bit",
    "is_included_column": "bit",
    "is_unique": "bit",
    "is_primary_key": "bit",
    "is_unique_constraint": "bit",
    "referenced_object_id": "int",
    "delete_referential_action": "tinyint",
    "constraint_object_id": "int",
    "constraint_column_id": "int",
    "parent_column_id": "int",
    "referenced_column_id": "int",
    ("sys_indexes", "type"): "tinyint",  # a letter code in sys.objects
    ("sys_trigger_events", "type"): "int",
    "modify_date": "datetime",
    "file_id": "int",
    "size": "int",
    "max_size": "int",
    "configuration_id": "int",
    "value": "int",
    "minimum": "int",
    "maximum": "int",
    "value_in_use": "int",
    "is_dynamic": "bit",
    "is_advanced": "bit",
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
        firing.prepare(db)
        keys.create_tables(db)
        server.prepare(db)
        if "collation_name" not in {r[1] for r in db.execute("PRAGMA table_info(lab_catalog)")}:
            db.execute("ALTER TABLE lab_catalog ADD COLUMN collation_name TEXT")  # a database made before collations
        db.execute(
            f"INSERT OR IGNORE INTO lab_objects (name, create_date) SELECT name, ? FROM ({_USER_TABLES}) "
            f"UNION SELECT name, ? FROM ({_USER_TRIGGERS})",
            (now, now),
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


def trigger_name(db: sqlite3.Connection, name: str) -> str | None:
    """The stored spelling of T-SQL trigger `name`, or None."""
    row = db.execute(f"SELECT name FROM ({_USER_TRIGGERS}) WHERE lower(name) = lower(?)", (name,)).fetchone()
    return row[0] if row else None


def object_exists(db: sqlite3.Connection, name: str) -> bool:
    """Tables and triggers share one namespace in SQL Server (error 2714)."""
    return table_name(db, name) is not None or trigger_name(db, name) is not None or name.lower() in VIEWS


def record_object(db: sqlite3.Connection, name: str) -> None:
    db.execute(
        "INSERT OR REPLACE INTO lab_objects (name, create_date) VALUES (?, ?)",
        (name, format_datetime(dt.datetime.now())),
    )


def forget_object(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM lab_objects WHERE name = ?", (name,))


def columns(db: sqlite3.Connection, table: str) -> list[CatalogColumn]:
    rows = db.execute(
        "SELECT column_name, data_type, max_length, is_nullable, is_identity, identity_seed, "
        "identity_increment, pk_ordinal, is_computed, collation_name FROM lab_catalog "
        "WHERE lower(table_name) = lower(?) ORDER BY ordinal",
        (table,),
    ).fetchall()
    default = collation.database_default(db)
    return [
        CatalogColumn(
            name,
            kind,
            length,
            bool(nullable),
            bool(identity),
            seed,
            increment,
            pk,
            computed=bool(computed),
            collation=(collated or default) if collation.is_character(kind) else None,
        )
        for name, kind, length, nullable, identity, seed, increment, pk, computed, collated in rows
    ]


def _record(db: sqlite3.Connection, table: str, cols: list[CatalogColumn]) -> None:
    db.execute("DELETE FROM lab_catalog WHERE lower(table_name) = lower(?)", (table,))
    for ordinal, col in enumerate(cols, start=1):
        db.execute(
            "INSERT INTO lab_catalog (table_name, ordinal, column_name, data_type, max_length, is_nullable, "
            "is_identity, identity_seed, identity_increment, pk_ordinal, is_computed, collation_name) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (table, ordinal, col.name, col.type, col.length, int(col.nullable), int(col.identity),
             col.seed, col.increment, col.pk, int(col.computed), _collation(db, col)),
        )  # fmt: skip


def _collation(db: sqlite3.Connection, col: CatalogColumn) -> str | None:
    """A character column's collation (the database default unless it has its own); NULL for others."""
    return (col.collation or collation.database_default(db)) if collation.is_character(col.type) else None


def record_columns(db: sqlite3.Connection, table: str, cols: list[CatalogColumn]) -> None:
    """The catalog's facts of a table's columns, changed in place (ALTER COLUMN)."""
    _record(db, table, cols)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _sqlite_type(col: CatalogColumn) -> str:
    """Its SQLite type; a character column compares (and is indexed, grouped) as its collation."""
    if collation.is_character(col.type):
        return f"TEXT COLLATE {collation.sqlite_collation(col.collation)}"
    return SQLITE_TYPES[col.type]


def _definition(col: CatalogColumn) -> str:
    if col.computed:
        return f"{_quote(col.name)} {_sqlite_type(col)} GENERATED ALWAYS AS ({col.expression}) VIRTUAL"
    # a timestamp column is stamped by a trigger after the insert: NULL until then
    null = "" if col.nullable or col.type == "timestamp" else " NOT NULL"
    default = f" DEFAULT ({col.default})" if col.default is not None else ""
    return f"{_quote(col.name)} {_sqlite_type(col)}{null}{default}"


def create_table(
    db: sqlite3.Connection, table: str, cols: list[CatalogColumn], foreign_keys: list[str] = (), stamp: bool = True
) -> None:
    """`foreign_keys`: keys.foreign_key_clause()s; `stamp`: start the rowversion upkeep now (SELECT
    INTO starts it after copying the rows, whose stamps it keeps, as SQL Server does)."""
    for col in cols:
        col.collation = _collation(db, col)
    defs = [_definition(col) for col in cols]
    pk = [c.name for c in sorted((c for c in cols if c.pk), key=lambda c: c.pk or 0)]
    if pk:
        defs.append("PRIMARY KEY (" + ", ".join(_quote(k) for k in pk) + ")")
    db.execute(f"CREATE TABLE {_quote(table)} ({', '.join([*defs, *foreign_keys])})")
    _record(db, table, cols)
    record_object(db, table)
    if stamp:
        stamp_rowversions(db, table)


def stamp_rowversions(db: sqlite3.Connection, table: str) -> None:
    cols = columns(db, table)
    stamped = [c.name for c in cols if c.type == "timestamp"]
    if stamped:
        keys.rowversion_upkeep(
            db, table, stamped[0], [c.name for c in cols if c.type != "timestamp" and not c.computed]
        )


def drop_table(db: sqlite3.Connection, table: str) -> None:
    # SQLite drops the table's triggers and indexes with it, as SQL Server does
    db.execute(
        "DELETE FROM lab_objects WHERE name IN "
        "(SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?)",
        (table,),
    )
    for name in firing.forget_table(db, table):
        forget_object(db, name)
    db.execute(f"DROP TABLE {_quote(table)}")
    db.execute("DELETE FROM lab_catalog WHERE lower(table_name) = lower(?)", (table,))
    keys.forget_table(db, table)
    forget_object(db, table)


def add_column(db: sqlite3.Connection, table: str, col: CatalogColumn) -> None:
    if col.computed or col.type == "timestamp":
        raise ValueError("ALTER TABLE ADD of a computed or timestamp column")  # refused by the caller
    col.collation = _collation(db, col)
    db.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_definition(col)}")
    _record(db, table, [*columns(db, table), col])
    firing.restage(db, table, [c.name for c in columns(db, table)])
