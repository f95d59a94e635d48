"""A job's content, fingerprinted: what tells a job changed on the slave since the night.

Job content is read with `SELECT *` from every table that holds part of a job (no public
schema of the `express` database exists).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from ds_replication.catalog import existing_tables, primary_key
from ds_replication.sql import query
from ds_replication.templates import render

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


def job_fingerprints(conn: Any) -> dict[int, str]:
    """sha256 of every job's content (job row, conditions, tasks), by event_id.

    Row ids of conditions and tasks are left out: an import may number them anew without
    changing what the job does."""
    rows_by_job: dict[int, list[str]] = defaultdict(list)
    for table in existing_tables(conn, JOB_TABLES):
        row_ids = {k.lower() for k in primary_key(conn, table)} - {"event_id"}
        for row in query(conn, render("job_rows.sql", table=table)):
            event_id = int(row["event_id"])
            cells = sorted((str(k).lower(), repr(v)) for k, v in row.items() if str(k).lower() not in row_ids)
            rows_by_job[event_id].append(f"{table}:{cells}")
    return {
        event_id: hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest() for event_id, rows in rows_by_job.items()
    }
