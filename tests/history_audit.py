"""Independent accounting of a slave's job history, straight from its tables.

Used by the end-to-end tests and the demo to check what the DAG reports: every history row
of the slave before a run must afterwards be live (unchanged) or in the archive table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.labctl import Lab

SCHEDULE_KEY = ("schedule_id",)
INFO_KEY = ("schedule_id", "info_id")


def _keyed(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    """Rows by key, without the archive's own columns (ds_replication_reason, ..._archived_at)."""
    return {
        tuple(r[k] for k in key): {c: v for c, v in r.items() if not c.lower().startswith("ds_replication_")}
        for r in rows
    }


@dataclass
class HistorySnapshot:
    schedule: dict[tuple, dict[str, Any]]
    info: dict[tuple, dict[str, Any]]
    archive: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    info_archive: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    backup: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    info_backup: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tables: set[str] = field(default_factory=set)


def snapshot(lab: Lab, host: str) -> HistorySnapshot:
    tables = {str(r["name"]).lower() for r in lab.sql(host, "SELECT name FROM sys.tables")}

    def rows(table: str, key: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
        return _keyed(lab.sql(host, f"SELECT * FROM [{table}]"), key) if table in tables else {}

    return HistorySnapshot(
        schedule=rows("event_schedule", SCHEDULE_KEY),
        info=rows("event_schedule_info", INFO_KEY),
        archive=rows("ds_replication_event_schedule_archive", SCHEDULE_KEY),
        info_archive=rows("ds_replication_event_schedule_info_archive", INFO_KEY),
        backup=rows("ds_replication_event_schedule_backup", SCHEDULE_KEY),
        info_backup=rows("ds_replication_event_schedule_info_backup", INFO_KEY),
        jobs={int(r["event_id"]): r for r in lab.sql(host, "SELECT event_id, folder_id, name FROM event")},
        tables=tables,
    )


@dataclass(frozen=True)
class Accounting:
    before: int
    live: int  # still live, unchanged
    archived: int  # moved to the archive, unchanged
    held: int  # only in the backup table (a failed run keeps it)
    lost: int  # nowhere
    detail_before: int
    detail_lost: int
    lost_keys: tuple = ()


def account(before: HistorySnapshot, after: HistorySnapshot) -> Accounting:
    """Where each history row of `before` is in `after`: live, archived, held in the backup, or lost."""
    live = archived = held = 0
    lost = []
    for key, row in before.schedule.items():
        if after.schedule.get(key) == row:
            live += 1
        elif after.archive.get(key) == row:
            archived += 1
        elif after.backup.get(key) == row:
            held += 1
        else:
            lost.append(key)
    detail_lost = [
        k
        for k, r in before.info.items()
        if r not in (after.info.get(k), after.info_archive.get(k), after.info_backup.get(k))
    ]
    return Accounting(
        before=len(before.schedule),
        live=live,
        archived=archived,
        held=held,
        lost=len(lost),
        detail_before=len(before.info),
        detail_lost=len(detail_lost),
        lost_keys=tuple(lost[:20]),
    )


def slave_folders(config_path: Path, slave: str) -> list[dict[str, Any]]:
    """The folders an estate file gives `slave`: its own, else the defaults'."""
    config = yaml.safe_load(config_path.read_text())
    for entry in config["slaves"]:
        if entry["name"] == slave and entry.get("folders"):
            return entry["folders"]
    return config["defaults"]["folders"]


def jobs_in_folders(lab: Lab, host: str, folders: list[dict[str, Any]]) -> set[int]:
    """event_ids of the jobs in the given folder trees (paths from the root, `\\` between levels)."""
    tree = lab.sql(host, "SELECT folder_id, parent_id, name FROM event_folder")
    by_id = {r["folder_id"]: r for r in tree}

    def path(folder: dict[str, Any]) -> str:
        parts = [folder["name"]]
        while folder["parent_id"] is not None and folder["parent_id"] in by_id:
            folder = by_id[folder["parent_id"]]
            parts.append(folder["name"])
        return "\\".join(reversed(parts)).lower()

    paths = {r["folder_id"]: path(r) for r in tree}
    wanted: set[int] = set()
    for spec in folders:
        root = spec["name"].lower()
        for folder_id, p in paths.items():
            if p == root or (spec.get("subfolders", True) and p.startswith(root + "\\")):
                wanted.add(folder_id)
    jobs = lab.sql(host, "SELECT event_id, folder_id FROM event")
    return {int(j["event_id"]) for j in jobs if j["folder_id"] in wanted}
