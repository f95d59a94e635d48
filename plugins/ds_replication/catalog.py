"""What the DS database looks like, read from its catalog, never assumed.

No public schema of the `express` database exists, so column lists, primary keys and
IDENTITY columns of the history tables come from `INFORMATION_SCHEMA` and `sys.columns`,
and job content (for the changed-job report) is read with `SELECT *`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ds_replication.sql import query, quote_name
from ds_replication.templates import render

# Tables that hold a job's content: the job row, its conditions and its tasks (DOMAIN.md).
JOB_TABLES = (
    "event",
    "event_condition",
    "install_task",
    "config_task",
    "copyfile_task",
    "image_task",
    "script_task",
    "reboot_task",
    "wait_task",
)


# What tells two versions of a history row apart from two different rows that happen to share
# a key (a key reused by the application): besides the key and the parent key, these columns
# never change once the row is written. A history table not listed here is taken for a log whose
# rows never change, so every column counts. Columns missing from a DS's table are left out.
ROW_IDENTITY = {"event_schedule": ("computer_id", "start_time")}

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
INTEGER_ORDER = ("tinyint", "smallint", "int", "bigint")


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str
    max_length: int
    precision: int
    scale: int
    nullable: bool

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
    row_identity: tuple[str, ...] = ()  # see ROW_IDENTITY; empty: every column
    key_source: str = "primary key"
    lob_casts: tuple[tuple[str, str], ...] = ()  # (LOB column, the type it is compared as), see LOB_CAST
    unreadable: tuple[str, ...] = ()  # text/ntext/image columns: a trigger cannot read them from deleted
    unreadable_types: tuple[tuple[str, str], ...] = ()  # (unreadable column, its type: text, ntext or image)

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


# The history tables and their parents, in the order they are restored (parents first).
HISTORY_PARENTS = (
    ("event_schedule", "event", "event_id"),
    ("event_schedule_info", "event_schedule", "schedule_id"),
)


class CatalogError(RuntimeError):
    pass


def _columns(conn: Any, table: str) -> list[dict[str, Any]]:
    # OBJECT_ID(N'dbo.<table>'): the table in the dbo schema, whatever the login's default.
    return query(conn, render("catalog_columns.sql", table=table))


def table_columns(conn: Any, table: str) -> list[Column]:
    """The stored columns of a table (computed and rowversion columns left out)."""
    return [
        Column(
            str(r["name"]),
            str(r["type_name"]),
            int(r["max_length"]),
            int(r["precision"] or 0),
            int(r["scale"] or 0),
            bool(r["is_nullable"]),
        )
        for r in _columns(conn, table)
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
        columns = table_columns(conn, live)
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
                tuple(c.name for c in lobs if c.type_name.lower() in TRIGGER_UNREADABLE),
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


def job_fingerprints(conn: Any) -> dict[int, str]:
    """sha256 of every job's content (job row, conditions, tasks), by event_id.

    Row ids of conditions and tasks are left out: an import may number them anew without
    changing what the job does."""
    rows_by_job: dict[int, list[str]] = defaultdict(list)
    for table in existing_tables(conn, JOB_TABLES):
        row_ids = {k.lower() for k in primary_key(conn, table)} - {"event_id"}
        for row in query(conn, render("job_rows.sql", table=table)):
            event_id = int(row["event_id"])
            cells = sorted((str(k).lower(), repr(v)) for k, v in row.items() if str(k).lower() not in row_ids)
            rows_by_job[event_id].append(f"{table}:{cells}")
    return {
        event_id: hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest() for event_id, rows in rows_by_job.items()
    }


@dataclass(frozen=True)
class FolderNode:
    """A node of the DS job folder tree as event_folder holds it (the estate file's are config.Folder)."""

    folder_id: int
    parent_id: int | None
    name: str


def _folder_path_index(folders: list[FolderNode]) -> dict[str, FolderNode]:
    by_id = {f.folder_id: f for f in folders}

    def path(folder: FolderNode) -> str:
        parts = [folder.name]
        seen = {folder.folder_id}
        while folder.parent_id is not None and folder.parent_id in by_id:
            folder = by_id[folder.parent_id]
            if folder.folder_id in seen:  # a cycle would loop forever
                break
            seen.add(folder.folder_id)
            parts.append(folder.name)
        return "\\".join(reversed(parts)).lower()

    return {path(f): f for f in folders}


def _folder_ids(conn: Any, folders: list[tuple[str, bool]]) -> dict[str, set[int] | None]:
    """The event_folder ids of each (folder path, with sub-folders); None when the folder is missing."""
    tree = [
        FolderNode(int(r["folder_id"]), None if r["parent_id"] is None else int(r["parent_id"]), str(r["name"]))
        for r in query(conn, render("job_folders.sql"))
    ]
    children: dict[int, list[int]] = defaultdict(list)
    for f in tree:
        if f.parent_id is not None:
            children[f.parent_id].append(f.folder_id)
    index = _folder_path_index(tree)
    found: dict[str, set[int] | None] = {}
    for path, subfolders in folders:
        root = index.get(path.lower())
        if root is None:
            found[path] = None
            continue
        ids: set[int] = set()
        todo = [root.folder_id]
        while todo:
            folder_id = todo.pop()
            if folder_id in ids:
                continue
            ids.add(folder_id)
            if subfolders:
                todo.extend(children[folder_id])
        found[path] = ids
    return found


def folder_job_counts(conn: Any, folders: list[tuple[str, bool]]) -> dict[str, int | None]:
    """Jobs in each (folder path, with sub-folders) of the job tree; None when the folder is missing."""
    ids_of = _folder_ids(conn, folders)
    jobs = {int(r["folder_id"]): int(r["jobs"]) for r in query(conn, render("folder_job_counts.sql"))}
    return {path: None if ids is None else sum(jobs.get(i, 0) for i in ids) for path, ids in ids_of.items()}


def folder_jobs(conn: Any, folders: list[tuple[str, bool]]) -> dict[str, dict[int, str]]:
    """{folder path: {event_id: job name}} of each (folder path, with sub-folders); a missing folder has none."""
    ids_of = _folder_ids(conn, folders)
    jobs: dict[int, dict[int, str]] = defaultdict(dict)
    for r in query(conn, render("folder_jobs.sql")):
        jobs[int(r["folder_id"])][int(r["event_id"])] = str(r["name"])
    return {path: {e: n for i in ids or () for e, n in jobs[i].items()} for path, ids in ids_of.items()}


def folder_job_names(conn: Any, folders: list[tuple[str, bool]]) -> dict[str, list[str] | None]:
    """Names of the jobs in each (folder path, with sub-folders), sorted; None when the folder is missing."""
    ids_of = _folder_ids(conn, folders)
    names: dict[int, list[str]] = defaultdict(list)
    for r in query(conn, render("folder_job_names.sql")):
        names[int(r["folder_id"])].append(str(r["name"]))
    return {path: None if ids is None else sorted(n for i in ids for n in names[i]) for path, ids in ids_of.items()}
