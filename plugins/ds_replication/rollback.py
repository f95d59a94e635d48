"""Rolling a slave back to the jobs it had before an earlier night's import.

That night's `import_jobs` kept them in the slave's job archive (job_archive.py) and named the
files in its XCom (`archive`: {folder: {file, jobs}}). A rollback run (param `rollback_to`:
that run's id) puts those files on the master's share under this run's export names, so the
rest of the night is the usual one: copied to the slave and read back, approved, history backed
up and captured, imported, restored and verified; the slave's current jobs are archived first,
so a rollback can be rolled back too.
"""

from __future__ import annotations

import shutil
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.job_archive import ARCHIVE_FOLDER
from ds_replication.run_files import export_file_names, partial_name


def archive_of(context: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """The job archive the run `run_id` of this DAG kept before its import: {folder: {file, jobs}}."""
    ti = context["ti"]
    kept = ti.xcom_pull(task_ids="import_jobs", run_id=run_id)
    archive = kept.get("archive") if isinstance(kept, dict) else None
    if not isinstance(archive, dict):  # an import that failed pushed its archive under its own key
        archive = ti.xcom_pull(task_ids="import_jobs", key="archive", run_id=run_id)
    if not isinstance(archive, dict) or not archive:
        raise AirflowFailException(
            f"params.rollback_to: run {run_id!r} of this DAG kept no job archive (no such run, a dry run, or "
            "a night that stopped before import_jobs); the replication page lists each run's job archive"
        )
    return archive


def plan(folders: list[JobFolder], archive: dict[str, dict[str, Any]]) -> list[JobFolder]:
    """The run's folders that the archive holds (a folder with no jobs that night has no file)."""
    held = {name.lower() for name in archive}
    chosen = [f for f in folders if f["name"].lower() in held]
    if not chosen:
        raise AirflowFailException(
            f"params.rollback_to: the archive holds folders {sorted(archive)}, none of {[f['name'] for f in folders]}"
        )
    return chosen


def stage(
    slave: DsHost, master: DsHost, run_id: str, folders: list[JobFolder], archive: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Put the archive's files of `folders` on the master's share as this run's export files;
    the export result the later steps take (`master_jobs`: the jobs each file holds)."""
    by_name = {name.lower(): entry for name, entry in archive.items()}
    files = export_file_names(slave.name, run_id, folders)
    with slave.share_hook() as source, master.share_hook() as target:
        present = set(source.listdir(ARCHIVE_FOLDER))
        for folder, name in zip(folders, files, strict=True):
            kept = by_name[folder["name"].lower()]["file"].rsplit("\\", 1)[-1]
            if kept not in present:
                raise AirflowFailException(
                    f"params.rollback_to: {ARCHIVE_FOLDER}\\{kept} is no longer on the slave (removed by the "
                    "retention, or by hand); choose a later run"
                )
            with (
                source.open_file(f"{ARCHIVE_FOLDER}/{kept}", "rb") as reader,
                target.open_file(partial_name(name), "wb") as writer,
            ):
                shutil.copyfileobj(reader, writer, 1 << 20)
            target.replace(partial_name(name), name)
    counts = {f["name"]: int(by_name[f["name"].lower()]["jobs"]) for f in folders}
    return {"folders": folders, "files": files, "master_jobs": counts, "seconds": 0.0}
