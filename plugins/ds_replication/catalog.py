"""What the DS database looks like, read from its catalog, never assumed.

No public schema of the `express` database exists, so column lists, primary keys and
IDENTITY columns of the history tables come from `INFORMATION_SCHEMA` and `sys.columns`.
Job content and the job folder tree are read in job_content.py and job_folders.py.
"""

from __future__ import annotations

from typing import Any

from ds_replication.history_table import GENERATED_TYPES, LOB_CAST, TRIGGER_UNREADABLE, Column, HistoryTable
from ds_replication.lasting import LastingError
from ds_replication.sql import query, quote_name
from ds_replication.templates import render

# What tells two versions of a history row apart from two different rows that happen to share
# a key (a key reused by the application): besides the key and the parent key, these columns
# never change once the row is written. A history table not listed here is taken for a log whose
# rows never change, so every column counts. Columns missing from a DS's table are left out.
ROW_IDENTITY = {"event_schedule": ("computer_id", "start_time")}

# The history tables and their parents, in the order they are restored (parents first).
HISTORY_PARENTS = (
    ("event_schedule", "event", "event_id"),
    ("event_schedule_info", "event_schedule", "schedule_id"),
)


class CatalogError(LastingError, RuntimeError):
    """What the catalog says cannot be kept (a table or column missing, a keyless table with
    large columns, a drifted column): a fact of the database, which waiting does not change."""


def _columns(conn: Any, table: str) -> list[dict[str, Any]]:
    # OBJECT_ID(N'dbo.<table>'): the table in the dbo schema, whatever the login's default.
    return query(conn, render("catalog_columns.sql", table=table))


def table_columns(conn: Any, table: str) -> list[Column]:
    """The stored columns of a table (computed and rowversion columns left out)."""
    return _stored(_columns(conn, table))


def _stored(rows: list[dict[str, Any]]) -> list[Column]:
    return [
        Column(
            str(r["name"]),
            str(r["type_name"]),
            int(r["max_length"]),
            int(r["precision"] or 0),
            int(r["scale"] or 0),
            bool(r["is_nullable"]),
            str(r["collation_name"]) if r.get("collation_name") else None,
        )
        for r in rows
        if not r["is_computed"] and str(r["type_name"]).lower() not in GENERATED_TYPES
    ]


def unique_key(conn: Any, table: str) -> tuple[list[str], str]:
    """The primary key, else the narrowest unique index: ([columns], where it comes from)."""
    rows = query(conn, render("catalog_unique_keys.sql", table=table))
    indexes: dict[str, list[str]] = {}
    primary = None
    for r in rows:
        indexes.setdefault(str(r["index_name"]), []).append(str(r["column_name"]))
        if r["is_primary_key"]:
            primary = str(r["index_name"])
    if primary is not None:
        return indexes[primary], "primary key"
    if indexes:
        name = min(indexes, key=lambda n: len(indexes[n]))
        return indexes[name], f"unique index {name}"
    return [], "every column (no primary key or unique index)"


def read_history_tables(conn: Any) -> list[HistoryTable]:
    """The history tables as the slave's catalog describes them; refuses what cannot be kept safely."""
    tables = []
    for live, parent, parent_key in HISTORY_PARENTS:
        raw = _columns(conn, live)
        if not raw:
            raise CatalogError(f"table {live} not found in the database (is this a DS 'express' database?)")
        columns = _stored(raw)  # one read of the catalog for both
        names = tuple(c.name for c in columns)
        for name in names:
            quote_name(name)
        by_lower = {n.lower(): n for n in names}
        if parent_key.lower() not in by_lower:
            raise CatalogError(f"table {live} has no column {parent_key}")
        parent_column = by_lower[parent_key.lower()]
        key, key_source = unique_key(conn, live)
        if not key:
            lobs = [c.name for c in columns if c.is_lob]
            if lobs:
                raise CatalogError(
                    f"table {live} has no primary key or unique index, and its column(s) {', '.join(lobs)} "
                    "hold large values that SQL Server cannot compare: its rows cannot be told apart, so "
                    "their history cannot be backed up and restored safely. Add a primary key or unique "
                    "index to the table (or ask the DS vendor) before enabling replication for this slave."
                )
            key = list(names)
        extra = tuple(by_lower[c] for c in ROW_IDENTITY.get(live, ()) if c in by_lower)
        row_identity = (*key, *[c for c in (parent_column, *extra) if c not in key]) if live in ROW_IDENTITY else ()
        identity = next((str(c["name"]) for c in raw if c["is_identity"]), None)
        lobs = [c for c in columns if c.type_name.lower() in LOB_CAST]
        tables.append(
            HistoryTable(
                live,
                parent,
                parent_column,
                names,
                tuple(key),
                identity,
                frozenset(c.name for c in columns if c.nullable),
                row_identity,
                key_source,
                tuple((c.name, LOB_CAST[c.type_name.lower()]) for c in lobs),
                tuple((c.name, c.type_name.lower()) for c in lobs if c.type_name.lower() in TRIGGER_UNREADABLE),
            )
        )
    return tables


def existing_tables(conn: Any, names: tuple[str, ...]) -> list[str]:
    rows = query(conn, render("catalog_existing_tables.sql", names=names))
    present = {str(r["name"]).lower() for r in rows}
    return [n for n in names if n.lower() in present]


def primary_key(conn: Any, table: str) -> list[str]:
    rows = query(conn, render("catalog_primary_key.sql", table=table))
    return [str(r["key_column"]) for r in rows]
