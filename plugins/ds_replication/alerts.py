"""Alerts that say what is held where and how to recover; sent through the smtp provider."""

from __future__ import annotations

import html
import logging
from typing import Any

from airflow.sdk import BaseNotifier

from ds_replication import history, sql

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


def _held_rows(mssql_conn_id: str, database: str) -> str:
    try:
        with sql.connect(mssql_conn_id, database) as conn:
            return str(history.held_rows(conn))
    except Exception as error:  # the alert must go out even when the slave is unreachable
        return f"unknown (slave database not reachable: {type(error).__name__})"


def send_alert(*, smtp_conn_id: str, from_email: str, to: list[str], subject: str, lines: list[str]) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    body = "<br>\n".join(html.escape(line) for line in lines)
    with SmtpHook(smtp_conn_id=smtp_conn_id) as hook:
        hook.send_email_smtp(to=to, subject=subject, html_content=body, from_email=from_email)
    log.info("alert sent to %s: %s", to, subject)


class HistoryAlertNotifier(BaseNotifier):
    """On failure of a step that has the slave's history at stake: which slave, which run,
    how many history rows the backup holds, and how to recover."""

    template_fields = ("slave_name",)

    def __init__(
        self,
        *,
        slave_name: str,
        mssql_conn_id: str,
        database: str,
        to: list[str],
        smtp_conn_id: str,
        from_email: str,
    ) -> None:
        super().__init__()
        self.slave_name = slave_name
        self.mssql_conn_id = mssql_conn_id
        self.database = database
        self.to = to
        self.smtp_conn_id = smtp_conn_id
        self.from_email = from_email

    def notify(self, context: Any) -> None:
        if not self.to:
            log.warning("no alert_emails configured for slave %s: alert not sent", self.slave_name)
            return
        ti = context["ti"]
        held = _held_rows(self.mssql_conn_id, self.database)
        error = context.get("exception")
        lines = [
            f"Slave: {self.slave_name} (database {self.database}, connection {self.mssql_conn_id})",
            f"DAG: {ti.dag_id}  run: {context['run_id']}  task: {ti.task_id}  try: {ti.try_number}",
            f"Error: {type(error).__name__ + ': ' + str(error) if error else 'see the task log'}",
            f"History rows held in {history.BACKUP_TABLE}: {held}",
            "",
            RECOVERY,
            trigger_command(ti.dag_id),
        ]
        send_alert(
            smtp_conn_id=self.smtp_conn_id,
            from_email=self.from_email,
            to=self.to,
            subject=f"[DS replication] {self.slave_name}: {ti.task_id} failed, {held} history rows held",
            lines=lines,
        )


class RunTimeoutNotifier(BaseNotifier):
    """The DAG's failure callback: alerts when the run was stopped at its bound (dagrun_timeout).
    A failed step alerts through its own callback; this one speaks only for a run that hung."""

    template_fields = ("slave_name",)

    def __init__(
        self,
        *,
        slave_name: str,
        mssql_conn_id: str,
        database: str,
        run_minutes: float,
        export_pool: str,
        to: list[str],
        smtp_conn_id: str,
        from_email: str,
    ) -> None:
        super().__init__()
        self.slave_name = slave_name
        self.mssql_conn_id = mssql_conn_id
        self.database = database
        self.run_minutes = run_minutes
        self.export_pool = export_pool
        self.to = to
        self.smtp_conn_id = smtp_conn_id
        self.from_email = from_email

    def notify(self, context: Any) -> None:
        if context.get("reason") != "timed_out":
            return
        if not self.to:
            log.warning("no alert_emails configured for slave %s: alert not sent", self.slave_name)
            return
        dag_id = context["dag"].dag_id
        held = _held_rows(self.mssql_conn_id, self.database)
        lines = [
            f"Slave: {self.slave_name}",
            f"DAG: {dag_id}  run: {context.get('run_id')}",
            f"The run was stopped after {self.run_minutes:g} minutes (run_timeout_minutes): longer than one try "
            "of every step at its bound. Look for a task that never started (is the pool "
            f"{self.export_pool} there? airflow pools list) or a step that hung.",
            f"History rows held in {history.BACKUP_TABLE}: {held}",
            "",
            RECOVERY,
            trigger_command(dag_id),
        ]
        send_alert(
            smtp_conn_id=self.smtp_conn_id,
            from_email=self.from_email,
            to=self.to,
            subject=f"[DS replication] {self.slave_name}: run stopped after {self.run_minutes:g} min, "
            f"{held} history rows held",
            lines=lines,
        )
