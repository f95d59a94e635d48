"""Keeping the slave's own jobs before `aximport /o` deletes them.

The import deletes the jobs of the folder it imports, and a job removed on the master is not
in the file: without a copy it would be gone from the slave for good (its history goes to
the archive table). Before the first import of a run, `import_jobs` exports each folder's
jobs on the slave with axexport into the archive folder of the slave's DS folder. Nothing in
the replication ever removes these files; `aximport` brings a job back from them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk.exceptions import AirflowException

from ds_replication import sql
from ds_replication.catalog import folder_job_names
from ds_replication.remote import axexport_command, check_export_count, run_command
from ds_replication.run_files import run_key, tool_partial_name
from ds_replication.shares import open_share

log = logging.getLogger(__name__)

ARCHIVE_FOLDER = "ds_replication_archive"


def archive_file_names(slave: str, run_id: str, run_after: dt.datetime, count: int) -> list[str]:
    """`<slave>_<run date>_<run key>_<n>.bin`, one per folder of the run: the same on every try."""
    stamp = f"{run_after:%Y%m%d}_{run_key(run_id)}"
    return [f"{slave}_{stamp}_{n}.bin" for n in range(1, count + 1)]


def archive_slave_jobs(
    *,
    slave: dict[str, str],
    ds_path: str,
    folders: list[dict[str, Any]],
    names: list[str],
    command_timeout_seconds: float,
) -> dict[str, dict[str, Any]]:
    """Export each folder's jobs on the slave into the archive folder; {folder: {file, jobs}}.

    A file already there was written by an earlier try of this run, before its import began:
    it is kept, never overwritten with what a crashed import left. A folder with no jobs on the
    slave (its first replication) has nothing to keep.
    """
    with sql.connect(slave["mssql_conn_id"], slave["database"]) as conn:
        jobs_of = folder_job_names(conn, [(f["name"], f["subfolders"]) for f in folders])
    kept: dict[str, dict[str, Any]] = {}
    with open_share(slave["smb_conn_id"], slave["share"]) as hook:
        hook.makedirs(ARCHIVE_FOLDER, exist_ok=True)
        present = set(hook.listdir(ARCHIVE_FOLDER))
        for folder, name in zip(folders, names, strict=True):
            jobs = jobs_of[folder["name"]]
            if not jobs:
                continue
            path = f"{ARCHIVE_FOLDER}\\{name}"
            if name in present:
                log.info("the slave's jobs of folder %r were kept in %s by an earlier try", folder["name"], path)
            else:
                partial = tool_partial_name(name)
                if partial in present:  # an earlier try's: axexport must not meet it
                    hook.remove(f"{ARCHIVE_FOLDER}/{partial}")
                command = axexport_command(
                    ds_path, folder["name"], folder["subfolders"], f"{ARCHIVE_FOLDER}\\{partial}"
                )
                result = run_command(slave["winrm_conn_id"], command, command_timeout_seconds)
                if result.return_code != 0:
                    raise AirflowException(
                        f"axexport of the slave's own jobs of folder {folder['name']!r} into {path} failed with "
                        f"exit code {result.return_code}: {(result.stdout + result.stderr).strip()}; "
                        "nothing was imported"
                    )
                check_export_count(result, len(jobs), f"export of the slave's own jobs of folder {folder['name']!r}")
                hook.replace(f"{ARCHIVE_FOLDER}/{partial}", f"{ARCHIVE_FOLDER}/{name}")
                log.info("kept the slave's jobs of folder %r in %s: %s", folder["name"], path, jobs)
            kept[folder["name"]] = {"file": path, "jobs": len(jobs)}
    return kept
