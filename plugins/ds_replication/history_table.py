"""A history table of the DS database and its columns, as the catalog describes them.

Shared by the catalog reads (catalog.py) and the SQL templates (templates.py), which render
these objects' names, lists and comparisons into T-SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from ds_replication.sql import quote_name

# Types that cannot be compared with `=` or INTERSECT (text, ntext, image, xml) or only at a
# high cost ((n)varchar(max), varbinary(max): max_length -1): a table must have a key to hold them.
LOB_TYPES = frozenset({"text", "ntext", "image", "xml"})
# What each LOB type is compared as: SQL Server refuses `=` on text, ntext and image (Msg 402)
# and its docs advise a CAST to the (max) types; xml compares as its text.
LOB_CAST = {"text": "varchar(MAX)", "ntext": "nvarchar(MAX)", "image": "varbinary(MAX)", "xml": "nvarchar(MAX)"}
# The types an AFTER trigger cannot read from inserted/deleted (Msg 311).
TRIGGER_UNREADABLE = frozenset({"text", "ntext", "image"})
# Filled in by SQL Server: never inserted, never copied.
GENERATED_TYPES = frozenset({"timestamp", "rowversion"})

PREFIX = "ds_replication_"
# A collation's name as sys.columns gives it (e.g. Latin1_General_CS_AS): letters, digits, underscores.
_COLLATION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
# Who deleted a row the capture trigger copied into the backup, as SQL Server reports the deleting
# session (all of SQL Server 2005): its program and host (the client's LOGIN7 AppName and
# HostName), its login, its session id, and when. NULL for a row the backup's snapshot copied.
CAPTURED_BY = (
    ("ds_replication_captured_at", "datetime", "GETDATE()"),
    ("ds_replication_deleted_by_program", "nvarchar(128)", "APP_NAME()"),
    ("ds_replication_deleted_by_host", "nvarchar(128)", "HOST_NAME()"),
    ("ds_replication_deleted_by_login", "nvarchar(128)", "SUSER_SNAME()"),
    ("ds_replication_deleted_by_spid", "int", "@@SPID"),
)
INTEGER_ORDER = ("tinyint", "smallint", "int", "bigint")


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str
    max_length: int
    precision: int
    scale: int
    nullable: bool
    collation: str | None = None  # sys.columns.collation_name: a character column's, else None

    @property
    def is_lob(self) -> bool:
        return self.type_name.lower() in LOB_TYPES or self.max_length == -1

    def widens(self, other: Column) -> bool:
        """This column holds every value `other` holds and more: the same string type longer (or
        max), or a wider integer type."""
        mine, theirs = self.type_name.lower(), other.type_name.lower()
        if mine in INTEGER_ORDER and theirs in INTEGER_ORDER:
            return INTEGER_ORDER.index(mine) > INTEGER_ORDER.index(theirs)
        if mine != theirs or mine not in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
            return False
        return other.max_length != -1 and (self.max_length == -1 or self.max_length > other.max_length)

    def type_sql(self) -> str:
        """The column's type as a column definition spells it (for ALTER TABLE ... ADD)."""
        name = self.type_name.lower()
        if name in ("nvarchar", "nchar"):
            return f"{name}(max)" if self.max_length == -1 else f"{name}({self.max_length // 2})"
        if name in ("varchar", "char", "varbinary", "binary"):
            return f"{name}(max)" if self.max_length == -1 else f"{name}({self.max_length})"
        if name in ("decimal", "numeric"):
            return f"{name}({self.precision}, {self.scale})"
        if name in ("datetime2", "time", "datetimeoffset"):
            return f"{name}({self.scale})"
        return name

    def collate_sql(self) -> str:
        """` COLLATE <its collation>` for a character column (ALTER TABLE ... ADD / ALTER COLUMN
        without it gives the database's default collation), else ''."""
        if not self.collation:
            return ""
        if not _COLLATION_NAME.fullmatch(self.collation):
            raise ValueError(f"column {self.name}: {self.collation!r} is not a collation name")
        return f" COLLATE {self.collation}"


def _null_safe_equal(left: str, right: str, column: str, nullable: bool, cast: str | None = None) -> str:
    if cast:  # a LOB: compared as its (max) type
        pair = f"CAST({left}.{quote_name(column)} AS {cast}) = CAST({right}.{quote_name(column)} AS {cast})"
    else:
        pair = f"{left}.{quote_name(column)} = {right}.{quote_name(column)}"
    if not nullable:
        return pair
    return f"({pair} OR ({left}.{quote_name(column)} IS NULL AND {right}.{quote_name(column)} IS NULL))"


@dataclass(frozen=True)
class HistoryTable:
    """A history table of the slave and the project's tables beside it."""

    live: str
    parent: str  # the table a row belongs to: event for event_schedule, ...
    parent_key: str  # ... joined on this column
    columns: tuple[str, ...]  # the columns a copy holds: never computed or rowversion columns
    key: tuple[str, ...]  # primary key, else a unique index, else every column
    identity: str | None  # the IDENTITY column, if any
    nullable: frozenset[str] = frozenset()
    row_identity: tuple[str, ...] = ()  # see catalog.ROW_IDENTITY; empty: every column
    key_source: str = "primary key"
    lob_casts: tuple[tuple[str, str], ...] = ()  # (LOB column, the type it is compared as), see LOB_CAST
    # (column, its type) of the text/ntext/image columns: a trigger cannot read them from deleted
    unreadable_types: tuple[tuple[str, str], ...] = ()

    @property
    def unreadable(self) -> tuple[str, ...]:
        """The text, ntext and image columns, by name."""
        return tuple(c for c, _ in self.unreadable_types)

    @property
    def backup(self) -> str:
        return f"{PREFIX}{self.live}_backup"

    @property
    def archive(self) -> str:
        return f"{PREFIX}{self.live}_archive"

    @property
    def capture_trigger(self) -> str:
        return f"{PREFIX}capture_{self.live}"

    @property
    def armed(self) -> str:
        """The rows live when the capture was armed (their identity columns): each must be live,
        or captured, when it is disarmed."""
        return f"{PREFIX}{self.live}_armed"

    @property
    def captured(self) -> str:
        """What the capture trigger copied (identity columns), while armed."""
        return f"{PREFIX}{self.live}_captured"

    @property
    def uncaptured(self) -> str:
        """Armed rows found neither live nor captured at disarm: deleted past the trigger."""
        return f"{PREFIX}{self.live}_uncaptured"

    @property
    def identity_columns(self) -> tuple[str, ...]:
        """The columns same_row compares, but text, ntext and image (a trigger cannot read them
        from deleted): what tells one row from another, in the capture's ledger."""
        names = (*self.key, *[c for c in (self.row_identity or self.columns) if c not in self.key])
        return tuple(c for c in names if c not in self.unreadable)

    def identity_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote_name(c) for c in self.identity_columns)

    def identity_create_list(self) -> str:
        """identity_list for `SELECT ... INTO` (the IDENTITY column in an expression, as create_list)."""
        return ", ".join(
            f"{quote_name(c)} + 0 AS {quote_name(c)}" if c == self.identity else quote_name(c)
            for c in self.identity_columns
        )

    @property
    def legacy_backup(self) -> str:
        """The seed article's backup table name, also used by this package before it had names of its own."""
        return f"{self.live}_backup"

    @property
    def legacy_archive(self) -> str:
        return f"{self.live}_archive"

    def q(self, name: str) -> str:
        """A table of the DS database, schema-qualified: a login whose default schema is not dbo
        must still find the same tables."""
        return f"[dbo].{quote_name(name)}"

    def column_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote_name(c) for c in self.columns)

    def captured_by_list(self) -> str:
        """The backup's columns saying who deleted a captured row (CAPTURED_BY)."""
        return ", ".join(quote_name(name) for name, _, _ in CAPTURED_BY)

    @staticmethod
    def captured_by_values() -> str:
        """What the capture trigger writes into them: the deleting session's, read in the trigger."""
        return ", ".join(f"{value} AS {quote_name(name)}" for name, _, value in CAPTURED_BY)

    def create_list(self) -> str:
        """Select list for `SELECT ... INTO`: the IDENTITY column inside an expression, so the
        new table does not inherit the IDENTITY property and takes explicit values; text, ntext
        and image columns inside a CAST to their own type, so they take NULL even where the live
        column is NOT NULL (SELECT INTO makes an expression's column nullable, ISNULL aside): the
        capture archives a row no copy held without them, and its insert must not fail (it would
        roll the import back)."""
        types = dict(self.unreadable_types)
        items = []
        for c in self.columns:
            if c == self.identity:
                items.append(f"{quote_name(c)} + 0 AS {quote_name(c)}")
            elif c in types:
                items.append(f"CAST({quote_name(c)} AS {types[c]}) AS {quote_name(c)}")
            else:
                items.append(quote_name(c))
        return ", ".join(items)

    @property
    def has_key(self) -> bool:
        """A primary key or unique index, not every column standing in for one."""
        return self.key_source == "primary key" or self.key_source.startswith("unique index")

    def key_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote_name(k) for k in self.key)

    def match(self, left: str, right: str) -> str:
        """Same key, NULL-safe (a unique index may hold a NULL; a keyless table compares every column)."""
        return " AND ".join(_null_safe_equal(left, right, k, k in self.nullable) for k in self.key)

    def same_row(self, left: str, right: str, readable_only: bool = False) -> str:
        """Same key and the same row identity: two versions of one row, not two rows sharing a key.
        LOB columns compare by CAST; `readable_only` leaves out what a trigger cannot read from
        deleted (text, ntext, image)."""
        names = list(self.key)
        names += [c for c in (self.row_identity or self.columns) if c not in names]
        if readable_only:
            names = [c for c in names if c not in self.unreadable]
        casts = dict(self.lob_casts)
        return " AND ".join(_null_safe_equal(left, right, c, c in self.nullable, casts.get(c)) for c in names)

    @property
    def uncaptured_reason(self) -> str:
        """The archive's reason for a row whose text/ntext/image columns the capture could not take."""
        return (
            f"not captured whole: {', '.join(self.unreadable)} written after the capture was armed; "
            "a trigger cannot read text, ntext or image (SQL Server Msg 311), archived without them"
        )

    @property
    def readable(self) -> tuple[str, ...]:
        """The columns a trigger can read from deleted (all but text, ntext and image)."""
        return tuple(c for c in self.columns if c not in self.unreadable)

    def readable_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote_name(c) for c in self.readable)

    def unreadable_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote_name(c) for c in self.unreadable)

    def same_values(self, left: str, right: str) -> str:
        """Every column a trigger can read is equal (NULL-safe): the same version of a row."""
        return " AND ".join(_null_safe_equal(left, right, c, c in self.nullable) for c in self.readable)

    def key_equals_params(self, alias: str) -> str:
        """The key equal to pymssql parameters (`%s`), NULL-safe; see key_params for their values."""
        parts = []
        for k in self.key:
            column = f"{alias}.{quote_name(k)}"
            parts.append(
                f"({column} = %s OR ({column} IS NULL AND %s IS NULL))" if k in self.nullable else f"{column} = %s"
            )
        return " AND ".join(parts)

    def key_params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The values for key_equals_params, from a row holding the key columns. A datetime goes
        as ISO 8601 text with the T: pymssql would send 'YYYY-MM-DD hh:mm:ss.mmm', which SQL
        Server reads year-day-month under a British, German or French login (Msg 242 or
        another day); the T form reads the same under every language and DATEFORMAT."""
        values: list[Any] = []
        for k in self.key:
            value = row[k]
            if isinstance(value, dt.datetime):
                value = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
            values += [value] * (2 if k in self.nullable else 1)
        return tuple(values)
