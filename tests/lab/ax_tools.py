"""The simulated `axexport` and `aximport` of a lab host (DOMAIN.md, "The lab's model of a DS").

axexport writes a folder tree's jobs into a file; aximport deletes the target folder tree's
jobs (the delete triggers take their tasks, conditions and history with them) and inserts
the file's jobs with their `event_id`. The file format is the lab's own (a header line
`AXLAB1 <sha256> <length>` and a JSON body); the project never reads it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.lab import ds_schema
from tests.lab.tsql import firing, who
from tests.lab.tsql.errors import SqlError

MAGIC = "AXLAB1"
JOB_TABLES = ("event_condition", "install_task", "script_task")
HISTORY_TABLES = ("event_schedule", "event_schedule_info")
CRASH_EXIT = 3221225477  # 0xC0000005, access violation, as Windows reports it
# The program name the simulated aximport sends in its LOGIN7 (what APP_NAME() gives in the DS's
# triggers). A real DS's is not documented: the package must not know it (it learns it, see
# docs/history.md); a test may give the tool another with set_program.
AXIMPORT_PROGRAM = "Altiris Deployment Server Import"
Fault = Callable[[str, str], bool]


@dataclass
class ToolResult:
    exit_code: int
    output: str


def _rows(db: sqlite3.Connection, sql: str, params: tuple = ()) -> list[dict]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _folders(db: sqlite3.Connection) -> dict[int, dict]:
    return {f["folder_id"]: f for f in _rows(db, "SELECT folder_id, parent_id, name FROM event_folder")}


def _path_of(folders: dict[int, dict], folder_id: int) -> list[str]:
    names, seen = [], set()
    while folder_id in folders and folder_id not in seen:
        seen.add(folder_id)
        names.append(folders[folder_id]["name"])
        folder_id = folders[folder_id]["parent_id"]
    return list(reversed(names))


def _find(folders: dict[int, dict], path: list[str]) -> int | None:
    wanted = [p.lower() for p in path]
    for folder_id in folders:
        if [p.lower() for p in _path_of(folders, folder_id)] == wanted:
            return folder_id
    return None


def _tree(folders: dict[int, dict], root: int, subfolders: bool) -> list[int]:
    ids, todo = [], [root]
    while todo:
        folder_id = todo.pop()
        ids.append(folder_id)
        if subfolders:
            todo.extend(f for f, row in folders.items() if row["parent_id"] == folder_id and f not in ids)
    return ids


def _placeholders(values: list) -> str:
    return ", ".join("?" for _ in values)


def axexport(db_path: str, folder: str, subfolders: bool, out_file: Path, fault: Fault, line: str) -> ToolResult:
    db = ds_schema.connect(db_path)
    try:
        folders = _folders(db)
        path = [p for p in folder.split("\\") if p]
        root = _find(folders, path)
        if root is None:
            return ToolResult(1, f"axExport: job folder '{folder}' not found.\r\n")
        ids = _tree(folders, root, subfolders)
        jobs = _rows(db, f"SELECT * FROM event WHERE folder_id IN ({_placeholders(ids)})", tuple(ids))
        event_ids = [j["event_id"] for j in jobs]
        tables = {
            t: _rows(db, f"SELECT * FROM {t} WHERE event_id IN ({_placeholders(event_ids)})", tuple(event_ids))
            for t in JOB_TABLES
        }
    finally:
        db.close()
    if fault("axexport_short", line) and jobs:
        jobs = jobs[:-1]  # a job left out, and not counted: the tool says it processed fewer
    body = json.dumps(
        {
            "path": _path_of(folders, root),
            "subfolders": subfolders,
            "folders": [folders[i] for i in ids],
            "jobs": jobs,
            "tables": tables,
        }
    ).encode()
    data = f"{MAGIC} {hashlib.sha256(body).hexdigest()} {len(body)}\n".encode() + body
    if fault("axexport_truncated", line):
        data = data[: len(data) * 2 // 3]
    elif fault("axexport_corrupt", line):
        data = data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:]
    out_file.write_bytes(data)
    return ToolResult(0, f"axExport: Processed {len(jobs)} jobs in {len(ids)} folders.\r\n")


def read_export(path: Path) -> dict | None:
    try:
        data = path.read_bytes()
        header, _, body = data.partition(b"\n")
        magic, digest, length = header.decode().split()
        if magic != MAGIC or int(length) != len(body) or hashlib.sha256(body).hexdigest() != digest:
            return None
        return json.loads(body)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def set_program(db_path: str | Path, name: str) -> None:
    """The program name aximport connects with from now on (lab_settings `aximport_program`)."""
    db = ds_schema.connect(db_path)
    try:
        db.execute("INSERT OR REPLACE INTO lab_settings (name, value) VALUES ('aximport_program', ?)", (name,))
    finally:
        db.close()


def _identity(db: sqlite3.Connection, host_name: str) -> who.Identity:
    """aximport's session: its program name, the host it runs on, the Windows login it runs as
    (a WinRM shell's user, `whoami`: <host>\\lab)."""
    row = db.execute("SELECT value FROM lab_settings WHERE name = 'aximport_program'").fetchone()
    return who.Identity(who.next_spid(), row[0] if row else AXIMPORT_PROGRAM, host_name, f"{host_name}\\lab")


def aximport(
    db_path: str, in_file: Path, overwrite: bool, fault: Fault, line: str, host_name: str = "DSLAB"
) -> ToolResult:
    if not in_file.exists():
        return ToolResult(1, f"axImport: cannot open file '{in_file.name}'.\r\n")
    export = read_export(in_file)
    if export is None:
        return ToolResult(2, f"axImport: file '{in_file.name}' is corrupt or truncated; nothing imported.\r\n")
    if fault("aximport_fail", line):
        return ToolResult(1, "axImport: failed to connect to the Deployment Server database.\r\n")
    db = ds_schema.connect(db_path)
    try:
        who.open_session(db, _identity(db, host_name))  # the session its deletes fire the triggers as
        db.execute("BEGIN IMMEDIATE")
        result = _import(db, export, overwrite, fault, line)
        if result.exit_code == CRASH_EXIT:
            db.execute("COMMIT")  # the jobs are deleted: the crash leaves them missing
            return result
        db.execute("COMMIT" if result.exit_code == 0 else "ROLLBACK")
        return result
    except (sqlite3.Error, SqlError) as error:  # e.g. a trigger on the history failed: reported, nothing changes
        if db.in_transaction:
            db.execute("ROLLBACK")
        return ToolResult(1, f"axImport: database error: {error}; nothing imported.\r\n")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()


def _import(db: sqlite3.Connection, export: dict, overwrite: bool, fault: Fault, line: str) -> ToolResult:
    folders = _folders(db)
    path = export["path"]
    target = _find(folders, path)
    if target is not None and not overwrite:
        return ToolResult(1, f"axImport: job folder '{chr(92).join(path)}' exists; use /o to overwrite.\r\n")
    tree = _tree(folders, target, export["subfolders"]) if target is not None else []
    file_ids = [j["event_id"] for j in export["jobs"]]
    elsewhere = f" AND folder_id NOT IN ({_placeholders(tree)})" if tree else ""
    outside = _rows(
        db,
        f"SELECT event_id FROM event WHERE event_id IN ({_placeholders(file_ids)}){elsewhere}",
        (*file_ids, *tree),
    )
    if outside:
        return ToolResult(1, f"axImport: job {outside[0]['event_id']} exists in another folder; nothing imported.\r\n")
    if fault("aximport_truncate", line):  # a tool that clears details with TRUNCATE: no trigger fires
        firing.run_truncate(db, "event_schedule_info")
    switched_off = []
    if fault("aximport_triggers_off", line):  # DISABLE TRIGGER ALL on the history, ENABLE again after
        for table in HISTORY_TABLES:
            switched_off += [(table, name) for name in firing.enabled_triggers(db, table)]
            firing.set_disabled(db, table, None, True)
    # As the real tool: delete the folder tree's jobs; the triggers delete their history.
    if tree:
        firing.run_delete(db, "event", f"DELETE FROM event WHERE folder_id IN ({_placeholders(tree)})", tuple(tree))
    for table, name in switched_off:
        firing.set_disabled(db, table, name, False)
    if fault("aximport_crash", line):
        return ToolResult(CRASH_EXIT, "")
    # Re-create the folders of the file under the target's parent, with the file's ids.
    parent_id = None
    if len(path) > 1:
        parent_id = _find(folders, path[:-1])
        if parent_id is None:
            return ToolResult(1, f"axImport: parent folder '{chr(92).join(path[:-1])}' not found.\r\n")
    file_folders = {f["folder_id"] for f in export["folders"]}
    stale = [f for f in tree if f not in file_folders] if export["subfolders"] else []
    if stale:
        firing.run_delete(
            db, "event_folder", f"DELETE FROM event_folder WHERE folder_id IN ({_placeholders(stale)})", tuple(stale)
        )
    if target is not None and target not in file_folders:
        firing.run_delete(db, "event_folder", "DELETE FROM event_folder WHERE folder_id = ?", (target,))
    root_id = export["folders"][0]["folder_id"]
    for folder in export["folders"]:
        parent = parent_id if folder["folder_id"] == root_id else folder["parent_id"]
        db.execute(
            "INSERT OR REPLACE INTO event_folder (folder_id, parent_id, name) VALUES (?, ?, ?)",
            (folder["folder_id"], parent, folder["name"]),
        )
    for table, rows in [("event", export["jobs"]), *export["tables"].items()]:
        for row in rows:
            cols = list(row)
            db.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({_placeholders(cols)})",
                tuple(row[c] for c in cols),
            )
    return ToolResult(0, f"axImport: Processed {len(export['jobs'])} jobs in {len(export['folders'])} folders.\r\n")
