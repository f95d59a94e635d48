"""What the DS database looks like, read from its catalog, never assumed.

No public schema of the `express` database exists, so column lists, primary keys and
IDENTITY columns of the history tables come from `INFORMATION_SCHEMA` and `sys.columns`,
and job content (for the changed-job report) is read with `SELECT *`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ds_replication.sql import query, quote_name

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


@dataclass(frozen=True)
class HistoryTable:
    """A history table of the slave and the project's tables beside it."""

    live: str
    parent: str  # the table a row belongs to: event for event_schedule, ...
    parent_key: str  # ... joined on this column
    columns: tuple[str, ...]
    key: tuple[str, ...]
    identity: str | None  # the IDENTITY column, if any

    @property
    def backup(self) -> str:
        return f"{self.live}_backup"

    @property
    def archive(self) -> str:
        return f"{self.live}_archive"

    def q(self, name: str) -> str:
        return quote_name(name)

    def column_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote_name(c) for c in self.columns)

    def create_list(self) -> str:
        """Select list for `SELECT ... INTO`: the IDENTITY column inside an expression, so the
        new table does not inherit the IDENTITY property and takes explicit values."""
        return ", ".join(
            f"{quote_name(c)} + 0 AS {quote_name(c)}" if c == self.identity else quote_name(c) for c in self.columns
        )

    def match(self, left: str, right: str) -> str:
        """Primary-key equality between two aliases."""
        return " AND ".join(f"{left}.{quote_name(k)} = {right}.{quote_name(k)}" for k in self.key)


# The history tables and their parents, in the order they are restored (parents first).
HISTORY_PARENTS = (
    ("event_schedule", "event", "event_id"),
    ("event_schedule_info", "event_schedule", "schedule_id"),
)


class CatalogError(RuntimeError):
    pass


def _sql_literal(name: str) -> str:
    quote_name(name)  # validates
    return "N'" + name + "'"


def read_history_tables(conn: Any) -> list[HistoryTable]:
    """The history tables as the slave's catalog describes them."""
    tables = []
    for live, parent, parent_key in HISTORY_PARENTS:
        columns = query(
            conn,
            "SELECT c.name AS name, c.is_identity AS is_identity FROM sys.columns AS c "
            f"WHERE c.object_id = OBJECT_ID({_sql_literal(live)}) ORDER BY c.column_id",
        )
        if not columns:
            raise CatalogError(f"table {live} not found in the database (is this a DS 'express' database?)")
        key = primary_key(conn, live)
        names = tuple(str(c["name"]) for c in columns)
        for name in names:
            quote_name(name)
        if parent_key not in names:
            raise CatalogError(f"table {live} has no column {parent_key}")
        # Without a declared primary key, a row is identified by all its columns.
        key_names = tuple(key) or names
        identity = next((str(c["name"]) for c in columns if c["is_identity"]), None)
        tables.append(HistoryTable(live, parent, parent_key, names, key_names, identity))
    return tables


def existing_tables(conn: Any, names: tuple[str, ...]) -> list[str]:
    wanted = ", ".join(_sql_literal(n) for n in names)
    rows = query(conn, f"SELECT name FROM sys.tables WHERE name IN ({wanted})")
    present = {str(r["name"]).lower() for r in rows}
    return [n for n in names if n.lower() in present]


def primary_key(conn: Any, table: str) -> list[str]:
    rows = query(
        conn,
        "SELECT k.COLUMN_NAME AS name FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS t "
        "INNER JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k "
        "ON k.CONSTRAINT_NAME = t.CONSTRAINT_NAME AND k.TABLE_NAME = t.TABLE_NAME "
        f"WHERE t.TABLE_NAME = {_sql_literal(table)} AND t.CONSTRAINT_TYPE = 'PRIMARY KEY' "
        "ORDER BY k.ORDINAL_POSITION",
    )
    return [str(r["name"]) for r in rows]


def job_fingerprints(conn: Any) -> dict[int, str]:
    """sha256 of every job's content (job row, conditions, tasks), by event_id.

    Row ids of conditions and tasks are left out: an import may number them anew without
    changing what the job does."""
    rows_by_job: dict[int, list[str]] = defaultdict(list)
    for table in existing_tables(conn, JOB_TABLES):
        row_ids = {k.lower() for k in primary_key(conn, table)} - {"event_id"}
        for row in query(conn, f"SELECT * FROM {quote_name(table)}"):
            event_id = int(row["event_id"])
            cells = sorted((str(k).lower(), repr(v)) for k, v in row.items() if str(k).lower() not in row_ids)
            rows_by_job[event_id].append(f"{table}:{cells}")
    return {
        event_id: hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest() for event_id, rows in rows_by_job.items()
    }


@dataclass(frozen=True)
class Folder:
    folder_id: int
    parent_id: int | None
    name: str


def _folder_path_index(folders: list[Folder]) -> dict[str, Folder]:
    by_id = {f.folder_id: f for f in folders}

    def path(folder: Folder) -> str:
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
        Folder(int(r["folder_id"]), None if r["parent_id"] is None else int(r["parent_id"]), str(r["name"]))
        for r in query(conn, "SELECT folder_id, parent_id, name FROM event_folder")
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
    jobs = {
        int(r["folder_id"]): int(r["jobs"])
        for r in query(conn, "SELECT folder_id, COUNT(*) AS jobs FROM event GROUP BY folder_id")
    }
    return {path: None if ids is None else sum(jobs.get(i, 0) for i in ids) for path, ids in ids_of.items()}


def folder_job_names(conn: Any, folders: list[tuple[str, bool]]) -> dict[str, list[str] | None]:
    """Names of the jobs in each (folder path, with sub-folders), sorted; None when the folder is missing."""
    ids_of = _folder_ids(conn, folders)
    names: dict[int, list[str]] = defaultdict(list)
    for r in query(conn, "SELECT folder_id, name FROM event"):
        names[int(r["folder_id"])].append(str(r["name"]))
    return {path: None if ids is None else sorted(n for i in ids for n in names[i]) for path, ids in ids_of.items()}
