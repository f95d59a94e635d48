"""Jobs of the slave's replicated folders that the import would overwrite or remove although
the master did not send them: edited or made on the slave since the last verified import, or
not on the master at all. `approve_changes` asks before importing over them.

The last import's jobs are recorded by verify_history (`record_imported`): each job's
fingerprint (job_content.job_fingerprints, the same as backup_history stores for the night), per
folder as each folder was last imported.
With no record yet (the first night), only jobs the master does not have count.
"""

from __future__ import annotations

import logging
from typing import Any

from ds_replication.catalog import existing_tables
from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.job_content import job_fingerprints
from ds_replication.job_folders import folder_jobs
from ds_replication.sql import query, run_script
from ds_replication.templates import render

log = logging.getLogger(__name__)

IMPORTED_TABLE = "ds_replication_imported_job"
EDITED = "edited on the slave since the last import: the master's version replaces it"
MADE_REMOVED = (
    "made on the slave since the last import, not on the master: the import removes it (kept in the job archive)"
)
MADE_REPLACED = "made on the slave since the last import under a name the master has: the master's job replaces it"
NOT_ON_MASTER = "not on the master: the import removes it (kept in the job archive)"


def record_imported(conn: Any, database: str, folders: list[JobFolder]) -> int:
    """Record the fingerprints of the jobs of the imported `folders` as the import left them; the
    records of other jobs still on the slave are kept (a run of some folders did not import
    theirs). How many jobs are recorded."""
    now = job_fingerprints(conn)
    imported = {event_id for jobs in folder_jobs(conn, _args(folders)).values() for event_id in jobs}
    kept = {e: f for e, f in (_recorded(conn) or {}).items() if e in now and e not in imported}
    fingerprints = {**kept, **{e: now[e] for e in imported if e in now}}
    sql = render("record_imported_jobs.sql", database=database, fingerprints=fingerprints)
    return int(run_script(conn, sql)["recorded_jobs"])


def _recorded(conn: Any) -> dict[int, str] | None:
    if not existing_tables(conn, (IMPORTED_TABLE,)):
        return None
    return {int(r["event_id"]): str(r["fingerprint"]).strip() for r in query(conn, render("imported_jobs.sql"))}


def _args(folders: list[JobFolder]) -> list[tuple[str, bool]]:
    return [(f["name"], f["subfolders"]) for f in folders]


def find(slave: DsHost, master: DsHost, folders: list[JobFolder]) -> list[dict[str, str]]:
    """The jobs of `folders` on the slave that the import would replace or remove although the
    master's copy did not change them: [{job, folder, change}], by folder and name."""
    with master.connect() as conn:
        master_names = {
            path: {n.lower() for n in jobs.values()} for path, jobs in folder_jobs(conn, _args(folders)).items()
        }
    with slave.connect() as conn:
        jobs_of = folder_jobs(conn, _args(folders))
        recorded = _recorded(conn)
        now = job_fingerprints(conn) if recorded is not None else {}
    changes = []
    for path, jobs in jobs_of.items():
        for event_id, name in sorted(jobs.items(), key=lambda item: item[1].lower()):
            made_here = recorded is not None and event_id not in recorded
            if name.lower() not in master_names.get(path, set()):
                change = MADE_REMOVED if made_here else NOT_ON_MASTER
            elif made_here:
                change = MADE_REPLACED
            elif recorded is not None and now.get(event_id) != recorded[event_id]:
                change = EDITED
            else:
                continue
            changes.append({"job": name, "folder": path, "change": change})
    return changes


def as_markdown(slave: str, changes: list[dict[str, str]]) -> str:
    """The question's body: what the import would do to the slave's own edits."""
    if not changes:
        return f"No job of slave `{slave}` was edited there since the last import (approval: always)."
    rows = "\n".join(f"| {c['job']} | {c['folder']} | {c['change']} |" for c in changes)
    return (
        f"The import replaces the jobs of slave `{slave}` with the master's. These jobs were changed on "
        f"the slave, or are not on the master:\n\n| job | folder | what differs |\n|---|---|---|\n{rows}\n\n"
        "**Approve**: import (the slave's jobs are kept in its job archive first; history is kept as on "
        "any night). **Reject**: nothing is imported and nothing changes on the slave."
    )
