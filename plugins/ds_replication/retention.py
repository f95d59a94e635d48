"""Retention (config `retention`): which of a slave's job archives and archive-table rows the
night's cleanup removes.

An archive is one run's files in the slave's `ds_replication_archive` folder: the jobs the
slave had before that run's import, what a rollback imports. Kept: every archive younger than
`nights` days, and the newest `min_archives` whatever their age. The rows of the history
archive tables go only when they were archived a day (time zones) before the oldest archive
kept: a rollback to any archive kept finds the history its night archived. While a history
backup is held (a night failed), nothing is removed: recovery may need all of it.
This is the one place the replication deletes history, and only what the user set it to.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from ds_replication import history
from ds_replication.catalog import existing_tables, read_history_tables
from ds_replication.config import Retention
from ds_replication.ds_host import DsHost
from ds_replication.job_archive import ARCHIVE_FOLDER, archive_name_pattern
from ds_replication.sql import run_script
from ds_replication.templates import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Archive:
    """One run's job archive on the slave."""

    date: dt.date  # the night of the run
    key: str  # the run's key (run_files.run_key)
    files: tuple[str, ...]  # names in the archive folder
    written: float  # the newest file's modification time: orders the runs of one date

    def describe(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "run_key": self.key, "files": list(self.files)}


def archives_of(slave: str, files: dict[str, float]) -> list[Archive]:
    """`slave`'s archives among `files` ({name: modification time}), newest first."""
    pattern = archive_name_pattern(slave)
    groups: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for name, written in files.items():
        match = pattern.fullmatch(name)
        if match:
            groups.setdefault((match["date"], match["key"].lower()), []).append((name, written))
    archives = [
        Archive(
            dt.datetime.strptime(date, "%Y%m%d").date(),
            key,
            tuple(sorted(name for name, _ in entries)),
            max(written for _, written in entries),
        )
        for (date, key), entries in groups.items()
    ]
    return sorted(archives, key=lambda a: (a.date, a.written), reverse=True)


def split(archives: list[Archive], retention: Retention, today: dt.date) -> tuple[list[Archive], list[Archive]]:
    """(kept, removed) of `archives` (newest first): the newest `min_archives` and every one of
    the last `nights` days are kept."""
    oldest_date_kept = today - dt.timedelta(days=retention.nights)
    kept = [a for n, a in enumerate(archives) if n < retention.min_archives or a.date >= oldest_date_kept]
    return kept, [a for a in archives if a not in kept]


def row_cutoff(kept: list[Archive], retention: Retention, today: dt.date) -> dt.date:
    """Archive-table rows archived before this date go: the older of `nights` ago and the
    oldest archive kept, a day earlier for the slave's clock being another time zone."""
    oldest = min([a.date for a in kept], default=today)
    return min(oldest, today - dt.timedelta(days=retention.nights)) - dt.timedelta(days=1)


def _archive_files(slave: DsHost) -> dict[str, float]:
    with slave.share_hook() as share:
        if ARCHIVE_FOLDER not in share.listdir(""):
            return {}
        pattern = archive_name_pattern(slave.name)
        names = [name for name in share.listdir(ARCHIVE_FOLDER) if pattern.fullmatch(name)]
        return {name: share.stat(f"{ARCHIVE_FOLDER}/{name}").st_mtime for name in names}


def _remove_files(slave: DsHost, names: list[str]) -> None:
    with slave.share_hook() as share:
        for name in names:
            share.remove(f"{ARCHIVE_FOLDER}/{name}")


def _prune_rows(conn: Any, database: str, cutoff: dt.date) -> dict[str, int]:
    """Delete the archive-table rows archived before `cutoff`; how many per table."""
    every = read_history_tables(conn)
    present = {name.lower() for name in existing_tables(conn, tuple(t.archive for t in every))}
    tables = [t for t in every if t.archive.lower() in present]
    if not tables:  # no night has archived anything yet (or only dry runs ran)
        return {}
    sql = render("prune_archive_tables.sql", database=database, tables=tables)
    figures = run_script(conn, sql, (f"{cutoff:%Y-%m-%d}T00:00:00",))
    return {t.archive: int(figures[f"removed_{n}"]) for n, t in enumerate(tables)}


def apply(slave: DsHost, retention: Retention, today: dt.date) -> dict[str, Any]:
    """Remove what `retention` lets go on `slave`; what was kept and removed (for XCom and the page)."""
    with slave.connect() as conn:
        if history.backup_present(conn):
            log.info("a history backup is held on the slave: retention removes nothing until it is verified")
            return {"skipped": "a history backup is held", "kept": [], "removed": [], "archive_rows_removed": {}}
    kept, removed = split(archives_of(slave.name, _archive_files(slave)), retention, today)
    _remove_files(slave, [name for archive in removed for name in archive.files])
    cutoff = row_cutoff(kept, retention, today)
    with slave.connect() as conn:
        rows = _prune_rows(conn, slave.database, cutoff)
    report = {
        "retention": {"nights": retention.nights, "min_archives": retention.min_archives},
        "kept": [a.describe() for a in kept],
        "removed": [a.describe() for a in removed],
        "rows_archived_before": cutoff.isoformat(),
        "archive_rows_removed": rows,
    }
    log.info(
        "retention (%d nights, at least %d archives): kept %d job archives, removed %d %s; "
        "removed the archive-table rows archived before %s: %s",
        retention.nights,
        retention.min_archives,
        len(kept),
        len(removed),
        [a.files for a in removed],
        cutoff,
        rows,
    )
    return report
