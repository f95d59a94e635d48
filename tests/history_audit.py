"""Independent accounting of a slave's job history, straight from its tables.

Used by the end-to-end tests and the demo to check what the DAG reports: every history row
of the slave before a run must afterwards be live (unchanged) or in the archive table
(`account`). With history written during the run (the lab's live DS engine, its journal),
`live_audit` checks every row that existed at any moment of the run, in its last version.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ds_replication.history_table import CAPTURED_BY
from tests.labctl import Lab

SCHEDULE_KEY = ("schedule_id",)
INFO_KEY = ("schedule_id", "info_id")

# The package's history tables, in this one place (the names change with the package).
# live table: (its backup table, its archive table)
HISTORY_TABLES = {
    "event_schedule": ("ds_replication_event_schedule_backup", "ds_replication_event_schedule_archive"),
    "event_schedule_info": ("ds_replication_event_schedule_info_backup", "ds_replication_event_schedule_info_archive"),
}
KEYS = {"event_schedule": SCHEDULE_KEY, "event_schedule_info": INFO_KEY}
# Columns only the archive tables have, and the backup's saying who deleted a captured row: not
# part of a row's content.
ARCHIVE_ONLY_COLUMNS = ("ds_replication_reason", "ds_replication_archived_at",
                        *(name for name, _, _ in CAPTURED_BY))  # fmt: skip


def _content(row: dict[str, Any]) -> dict[str, Any]:
    """A row's own columns, datetimes as ISO text to the millisecond (as `python -m tests.lab sql` prints them)."""
    return {
        k: v.isoformat(sep=" ", timespec="milliseconds") if isinstance(v, dt.datetime) else v
        for k, v in row.items()
        if k not in ARCHIVE_ONLY_COLUMNS
    }


def _keyed(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    # An archived conflict (a held row whose key another row took) is a row of its own, kept.
    return {tuple(r[k] for k in key): _content(r) for r in rows}


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
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # every row of each history table


def snapshot(lab: Lab, host: str) -> HistorySnapshot:
    tables = {str(r["name"]).lower() for r in lab.sql(host, "SELECT name FROM sys.tables")}
    names = [name for live, kept in HISTORY_TABLES.items() for name in (live, *kept)]
    rows = {name: lab.sql(host, f"SELECT * FROM [{name}]") if name in tables else [] for name in names}
    (backup, archive), (info_backup, info_archive) = HISTORY_TABLES.values()
    return HistorySnapshot(
        schedule=_keyed(rows["event_schedule"], SCHEDULE_KEY),
        info=_keyed(rows["event_schedule_info"], INFO_KEY),
        archive=_keyed(rows[archive], SCHEDULE_KEY),
        info_archive=_keyed(rows[info_archive], INFO_KEY),
        backup=_keyed(rows[backup], SCHEDULE_KEY),
        info_backup=_keyed(rows[info_backup], INFO_KEY),
        jobs={int(r["event_id"]): r for r in lab.sql(host, "SELECT event_id, folder_id, name FROM event")},
        tables=tables,
        rows=rows,
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


@dataclass(frozen=True)
class TableAudit:
    """Where each row of one history table that existed at any moment of a run is at its end."""

    table: str
    tracked: int  # rows before the run and rows written during it
    inserted: int  # rows inserted during the run
    updated: int  # rows updated during the run (each counted once)
    live: int  # live, in their last version
    archived: int  # in the archive (not as a conflict), in their last version
    held: int  # only in the backup, in their last version (a failed run)
    lost_keys: tuple  # nowhere
    stale_keys: tuple  # kept, but in an older version (e.g. restored from a backup taken before its update)
    duplicated_keys: tuple  # twice live, twice archived, or live and archived in the same version

    @property
    def lost(self) -> int:
        return len(self.lost_keys)

    @property
    def stale(self) -> int:
        return len(self.stale_keys)

    @property
    def duplicated(self) -> int:
        return len(self.duplicated_keys)

    @property
    def kept(self) -> int:
        return self.live + self.archived

    def summary(self) -> str:
        return (
            f"{self.table}: {self.tracked} rows ({self.inserted} inserted, {self.updated} updated during the run); "
            f"live {self.live}, archived {self.archived}, held {self.held}, lost {self.lost}, "
            f"stale {self.stale}, duplicated {self.duplicated}"
        )


@dataclass(frozen=True)
class LiveAudit:
    schedule: TableAudit
    info: TableAudit

    @property
    def ok(self) -> bool:
        return not any(t.lost or t.stale or t.duplicated for t in (self.schedule, self.info))

    def summary(self) -> str:
        keys = [
            f"{t.table} {what}: {list(getattr(t, what + '_keys'))[:10]}"
            for t in (self.schedule, self.info)
            for what in ("lost", "stale", "duplicated")
            if getattr(t, what)
        ]
        return "\n".join([self.schedule.summary(), self.info.summary(), *keys])


def live_audit(before: HistorySnapshot, written: list, after: HistorySnapshot, run_failed: bool) -> LiveAudit:
    """Every history row that existed at any moment of a run (`before` and the rows `written`
    during it, each entry with .op insert|update, .table, .key, .row after the write, in order,
    as tests.lab.ds_engine.journal gives them), accounted in `after` in its last version."""
    out = {}
    for table, (backup, archive) in HISTORY_TABLES.items():
        last = dict(before.schedule if table == "event_schedule" else before.info)
        inserted, updated = set(), set()
        for entry in (e for e in written if e.table == table):
            last[tuple(entry.key)] = _content(entry.row)
            (inserted if entry.op == "insert" else updated).add(tuple(entry.key))
        key = KEYS[table]

        def by_key(rows: list[dict[str, Any]], key=key) -> dict[tuple, list[dict[str, Any]]]:
            grouped = defaultdict(list)
            for row in rows:
                grouped[tuple(row[k] for k in key)].append(_content(row))
            return grouped

        live, archived, held = by_key(after.rows[table]), by_key(after.rows[archive]), by_key(after.rows[backup])
        counts = {"live": 0, "archived": 0, "held": 0}
        lost, stale, duplicated = [], [], []
        for k, row in last.items():
            here, kept = live.get(k, []), archived.get(k, [])
            if len(here) > 1 or kept.count(row) > 1 or (row in here and row in kept):
                duplicated.append(k)
            if row in here:
                counts["live"] += 1
            elif row in kept:
                counts["archived"] += 1
            elif run_failed and row in held.get(k, []):
                counts["held"] += 1
            elif here or kept or (run_failed and held.get(k)):
                stale.append(k)
            else:
                lost.append(k)
        out[table] = TableAudit(
            table,
            len(last),
            len(inserted),
            len(updated),
            counts["live"],
            counts["archived"],
            counts["held"],
            tuple(sorted(lost)),
            tuple(sorted(stale)),
            tuple(sorted(duplicated)),
        )
    return LiveAudit(out["event_schedule"], out["event_schedule_info"])


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
