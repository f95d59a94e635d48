"""Keeping the slave's own jobs before `aximport /o` deletes them.

The import deletes the jobs of the folder it imports, and a job removed on the master is not
in the file: without a copy it would be gone from the slave for good (its history goes to
the archive table). Before the first import of a run, `import_jobs` exports each folder's
jobs on the slave with axexport into the archive folder of the slave's DS folder. `aximport`
brings a job back from them; only the retention (config `retention`, `ds_replication.retention`)
removes old ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.run_files import run_key, tool_partial_name

log = logging.getLogger(__name__)

ARCHIVE_FOLDER = "ds_replication_archive"


def archive_name_pattern(slave: str) -> re.Pattern[str]:
    """The names of `slave`'s archive files (and partial files of a try that died), with the run's
    date, key and folder number: `site` never matches `site_a`'s files (`a_...` is no date)."""
    return re.compile(
        rf"{re.escape(slave)}_(?P<date>[0-9]{{8}})_(?P<key>[0-9a-f]{{12}})_(?P<n>[0-9]+)(?:\.part)?\.bin",
        re.IGNORECASE,
    )


def archive_file_names(slave: str, run_id: str, run_after: dt.datetime, count: int) -> list[str]:
    """`<slave>_<run date>_<run key>_<n>.bin`, one per folder of the run: the same on every try."""
    stamp = f"{run_after:%Y%m%d}_{run_key(run_id)}"
    return [f"{slave}_{stamp}_{n}.bin" for n in range(1, count + 1)]


def archive_slave_jobs(
    slave: DsHost, folders: list[JobFolder], names: list[str], command_timeout_seconds: float
) -> dict[str, dict[str, Any]]:
    """Export each folder's jobs on the slave into the archive folder; {folder: {file, jobs}}.

    A file already there was written by an earlier try of this run, before its import began:
    it is kept, never overwritten with what a crashed import left. A folder with no jobs on the
    slave (its first replication) has nothing to keep.
    """
    jobs_of = slave.job_names(folders)
    kept: dict[str, dict[str, Any]] = {}
    with slave.share_hook() as share:
        share.makedirs(ARCHIVE_FOLDER, exist_ok=True)
        present = set(share.listdir(ARCHIVE_FOLDER))
        for folder, name in zip(folders, names, strict=True):
            jobs = jobs_of[folder["name"]]
            path = f"{ARCHIVE_FOLDER}\\{name}"
            if name in present:
                # reported even when a crashed import emptied the folder since (its jobs: unknown
                # here): the file is then the only copy of the slave's jobs from before the run
                log.info("the slave's jobs of folder %r were kept in %s by an earlier try", folder["name"], path)
                kept[folder["name"]] = {"file": path, "jobs": len(jobs) if jobs else None}
                continue
            if not jobs:
                continue
            partial = tool_partial_name(name)
            if partial in present:  # an earlier try's: axexport must not meet it
                share.remove(f"{ARCHIVE_FOLDER}/{partial}")
            slave.export_folder(
                folder,
                f"{ARCHIVE_FOLDER}\\{partial}",
                len(jobs),
                command_timeout_seconds,
                what=f"the slave's own jobs of folder {folder['name']!r}",
                failed=f" (into {path}); nothing was imported",
            )
            share.replace(f"{ARCHIVE_FOLDER}/{partial}", f"{ARCHIVE_FOLDER}/{name}")
            log.info("kept the slave's jobs of folder %r in %s: %s", folder["name"], path, jobs)
            kept[folder["name"]] = {"file": path, "jobs": len(jobs)}
    return kept
