"""SQL Server's catalog views (`sys.*`, `INFORMATION_SCHEMA.*`) over the lab's `lab_catalog`.

Each session gets them as TEMP views; the interpreter rewrites `sys.columns` to
`sys_columns` and so on. Object ids are stable per table name (a CRC of the lower-cased
name), as SQL Server's are stable per object.
"""

from __future__ import annotations

import sqlite3
import zlib

# T-SQL type -> (system_type_id, max_length in bytes for fixed types)
TYPES = {
    "bit": (104, 1),
    "tinyint": (48, 1),
    "smallint": (52, 2),
    "int": (56, 4),
    "bigint": (127, 8),
    "float": (62, 8),
    "decimal": (106, 17),
    "datetime": (61, 8),
    "char": (175, None),
    "varchar": (167, None),
    "nchar": (239, None),
    "nvarchar": (231, None),
    "varbinary": (165, None),
}
SQLITE_TYPES = {
    "bit": "INTEGER",
    "tinyint": "INTEGER",
    "smallint": "INTEGER",
    "int": "INTEGER",
    "bigint": "INTEGER",
    "float": "REAL",
    "decimal": "NUMERIC",
    "datetime": "TEXT",
    "char": "TEXT",
    "varchar": "TEXT",
    "nchar": "TEXT",
    "nvarchar": "TEXT",
    "varbinary": "BLOB",
}

# Types of the catalog views' columns, for result sets.
VIEW_COLUMN_TYPES = {
    "object_id": "int",
    "column_id": "int",
    "is_identity": "bit",
    "is_nullable": "bit",
    "max_length": "smallint",
    "system_type_id": "tinyint",
    "user_type_id": "int",
    "ordinal_position": "int",
    "character_maximum_length": "int",
    "seed_value": "int",
    "increment_value": "int",
}


def object_id(name: str | None, kind: str | None = None) -> int:
    if name is None:
        return 0
    short = name.split(".")[-1].strip("[]").lower()
    return zlib.crc32(short.encode()) & 0x7FFFFFFF


def _user_tables(alias: str = "m") -> str:
    return (
        f"SELECT {alias}.name AS name FROM sqlite_master AS {alias} WHERE {alias}.type = 'table' "
        f"AND {alias}.name NOT LIKE 'sqlite_%' AND {alias}.name NOT LIKE 'lab_%'"
    )


def _types_values() -> str:
    return " UNION ALL ".join(
        f"SELECT '{name}' AS name, {type_id} AS system_type_id, {type_id} AS user_type_id"
        for name, (type_id, _) in TYPES.items()
    )


VIEWS = {
    "sys_tables": f"SELECT t.name, lab_object_id(t.name) AS object_id, 0 AS schema_id, 'U' AS type "
    f"FROM ({_user_tables()}) AS t",
    "sys_objects": f"SELECT t.name, lab_object_id(t.name) AS object_id, 'U' AS type, 'USER_TABLE' AS type_desc "
    f"FROM ({_user_tables()}) AS t",
    "sys_types": _types_values(),
    "sys_columns": "SELECT lab_object_id(c.table_name) AS object_id, c.column_name AS name, "
    "c.ordinal AS column_id, c.is_identity AS is_identity, c.is_nullable AS is_nullable, "
    "lab_max_length(c.data_type, c.max_length) AS max_length, "
    "lab_type_id(c.data_type) AS system_type_id, lab_type_id(c.data_type) AS user_type_id "
    "FROM lab_catalog AS c",
    "sys_identity_columns": "SELECT lab_object_id(c.table_name) AS object_id, c.column_name AS name, "
    "c.ordinal AS column_id, c.identity_seed AS seed_value, c.identity_increment AS increment_value "
    "FROM lab_catalog AS c WHERE c.is_identity = 1",
    "information_schema_tables": "SELECT 'express' AS TABLE_CATALOG, 'dbo' AS TABLE_SCHEMA, t.name AS TABLE_NAME, "
    f"'BASE TABLE' AS TABLE_TYPE FROM ({_user_tables()}) AS t",
    "information_schema_columns": "SELECT 'express' AS TABLE_CATALOG, 'dbo' AS TABLE_SCHEMA, "
    "c.table_name AS TABLE_NAME, c.column_name AS COLUMN_NAME, c.ordinal AS ORDINAL_POSITION, "
    "c.data_type AS DATA_TYPE, CASE WHEN c.is_nullable = 1 THEN 'YES' ELSE 'NO' END AS IS_NULLABLE, "
    "c.max_length AS CHARACTER_MAXIMUM_LENGTH FROM lab_catalog AS c",
    "information_schema_table_constraints": "SELECT DISTINCT 'express' AS CONSTRAINT_CATALOG, "
    "'dbo' AS CONSTRAINT_SCHEMA, 'PK_' || c.table_name AS CONSTRAINT_NAME, 'dbo' AS TABLE_SCHEMA, "
    "c.table_name AS TABLE_NAME, 'PRIMARY KEY' AS CONSTRAINT_TYPE FROM lab_catalog AS c "
    "WHERE c.pk_ordinal IS NOT NULL",
    "information_schema_key_column_usage": "SELECT 'PK_' || c.table_name AS CONSTRAINT_NAME, "
    "'dbo' AS TABLE_SCHEMA, c.table_name AS TABLE_NAME, c.column_name AS COLUMN_NAME, "
    "c.pk_ordinal AS ORDINAL_POSITION FROM lab_catalog AS c WHERE c.pk_ordinal IS NOT NULL",
}


def _max_length(data_type: str, length: int | None) -> int:
    fixed = TYPES.get(data_type, (0, None))[1]
    if fixed is not None:
        return fixed
    if length is None:
        return -1  # (max)
    return length * 2 if data_type.startswith("n") else length


def _divide(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        raise ZeroDivisionError("Divide by zero error encountered.")
    if isinstance(a, int) and isinstance(b, int):
        return int(a / b)  # T-SQL integer division truncates toward zero
    return a / b


def install(db: sqlite3.Connection) -> None:
    """The catalog functions and views, for this connection only."""
    db.create_function("lab_object_id", -1, object_id, deterministic=True)
    db.create_function("lab_div", 2, _divide, deterministic=True)
    db.create_function("lab_object_name", 1, lambda n: n.split(".")[-1].strip("[]") if n else n, deterministic=True)
    db.create_function("lab_type_id", 1, lambda t: TYPES.get(t, (0, 0))[0], deterministic=True)
    db.create_function("lab_max_length", 2, _max_length, deterministic=True)
    for name, select in VIEWS.items():
        db.execute(f"CREATE TEMP VIEW IF NOT EXISTS {name} AS {select}")


def table_exists(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?) AND name NOT LIKE 'lab_%'",
        (name,),
    ).fetchone()
    return row is not None


def columns(db: sqlite3.Connection, table: str) -> list[dict]:
    rows = db.execute(
        "SELECT column_name, data_type, max_length, is_nullable, is_identity, identity_seed, "
        "identity_increment, pk_ordinal FROM lab_catalog WHERE lower(table_name) = lower(?) ORDER BY ordinal",
        (table,),
    ).fetchall()
    keys = ("name", "type", "length", "nullable", "identity", "seed", "increment", "pk")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def record_table(db: sqlite3.Connection, table: str, cols: list[dict]) -> None:
    for ordinal, col in enumerate(cols, start=1):
        db.execute(
            "INSERT INTO lab_catalog VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                table,
                ordinal,
                col["name"],
                col["type"],
                col.get("length"),
                int(col.get("nullable", True)),
                int(bool(col.get("identity"))),
                col.get("seed"),
                col.get("increment"),
                col.get("pk"),
            ),
        )


def create_table(db: sqlite3.Connection, table: str, cols: list[dict]) -> None:
    """A SQLite table for T-SQL columns; an IDENTITY primary key becomes SQLite's rowid alias."""
    defs = []
    pk = [c["name"] for c in sorted((c for c in cols if c.get("pk")), key=lambda c: c["pk"])]
    for col in cols:
        sqlite_type = SQLITE_TYPES.get(col["type"], "TEXT")
        if pk == [col["name"]] and sqlite_type == "INTEGER":
            defs.append(f'"{col["name"]}" INTEGER PRIMARY KEY')
            continue
        null = "" if col.get("nullable", True) else " NOT NULL"
        default = f" DEFAULT {col['default']}" if col.get("default") is not None else ""
        defs.append(f'"{col["name"]}" {sqlite_type}{null}{default}')
    if pk and not (len(pk) == 1 and any(c["name"] == pk[0] and SQLITE_TYPES.get(c["type"]) == "INTEGER" for c in cols)):
        defs.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in pk) + ")")
    db.execute(f'CREATE TABLE "{table}" ({", ".join(defs)})')
    record_table(db, table, cols)


def drop_table(db: sqlite3.Connection, table: str) -> None:
    db.execute(f'DROP TABLE "{table}"')
    db.execute("DELETE FROM lab_catalog WHERE lower(table_name) = lower(?)", (table,))
