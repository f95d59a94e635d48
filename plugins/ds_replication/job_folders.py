"""The DS job folder tree (event_folder): which jobs each configured folder holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ds_replication.sql import query
from ds_replication.templates import render


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
