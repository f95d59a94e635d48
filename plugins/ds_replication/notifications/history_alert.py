"""`HistoryAlertNotifier`: a failed step with the slave's history at stake mails its admins."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from ds_replication import history
from ds_replication.notifications.mail import RECOVERY, held_rows, send_alert, trigger_command

log = logging.getLogger(__name__)


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
        held = held_rows(self.mssql_conn_id, self.database)
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
