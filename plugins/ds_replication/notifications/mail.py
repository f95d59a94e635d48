"""The alert mail: what is held where and how to recover; sent through the smtp provider."""

from __future__ import annotations

import html
import logging

from ds_replication import history
from ds_replication.hooks.database import DsDatabaseHook

log = logging.getLogger(__name__)

# Only a new run recovers: a failed run's cleanup teardown has already removed its export
# files, so clearing its failed task (import_jobs above all) has nothing left to import.
RECOVERY = (
    "The history backup table ds_replication_event_schedule_backup (and ds_replication_event_schedule_info_backup) "
    "on the slave is kept with every row: do not drop it by hand. Fix the cause, then trigger the DAG again (a new "
    "run of all folders; or wait for the next scheduled run). Do not clear the failed task: the run's cleanup has "
    "already removed its export files. The next run's preflight puts back the rows whose jobs exist, the next "
    "successful import and restore put back the rest, and verify_history drops the backup only when every "
    "row is live again or archived in ds_replication_event_schedule_archive. See README, 'Recovering from a "
    "failed night'."
)


def trigger_command(dag_id: str) -> str:
    return f"To recover, after fixing the cause: airflow dags trigger {dag_id}"


def held_rows(mssql_conn_id: str, database: str) -> str:
    try:
        with DsDatabaseHook(mssql_conn_id, database).connect() as conn:
            return str(history.held_rows(conn))
    except Exception as error:  # the alert must go out even when the slave is unreachable
        return f"unknown (slave database not reachable: {type(error).__name__})"


def send_alert(*, smtp_conn_id: str, from_email: str, to: list[str], subject: str, lines: list[str]) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    body = "<br>\n".join(html.escape(line) for line in lines)
    with SmtpHook(smtp_conn_id=smtp_conn_id) as hook:
        hook.send_email_smtp(to=to, subject=subject, html_content=body, from_email=from_email)
    log.info("alert sent to %s: %s", to, subject)
