"""`HistoryAlertNotifier`: a failed step with the slave's history at stake mails its admins."""

from __future__ import annotations

import logging
from typing import Any

from ds_replication.notifications.lost_worker import was_lost
from ds_replication.notifications.mail import ALERT_XCOM_KEY, SlaveAlertNotifier

log = logging.getLogger(__name__)


def error_text(context: Any) -> str:
    """The error of the failed try, as the alert says it."""
    error = context.get("exception")
    if error:
        return f"{type(error).__name__}: {error}"
    if was_lost(context):  # failed by the scheduler, alerted by the DAG processor
        return (
            "none raised in the task: Airflow failed the try from outside it (its worker was lost: killed, "
            "out of memory or its machine gone; or the task never started); the scheduler's log says which"
        )
    return "see the task log"


class HistoryAlertNotifier(SlaveAlertNotifier):
    """On failure of a step that has the slave's history at stake: which slave, which run,
    how many history rows the backup holds, and how to recover."""

    def notify(self, context: Any) -> None:
        ti = context["ti"]
        sent = self.send_held_alert(
            dag_id=ti.dag_id,
            run_id=context["run_id"],
            what=f"{ti.task_id} failed",
            situation=[
                f"Slave: {self.slave_name} (database {self.database}, connection {self.mssql_conn_id})",
                f"DAG: {ti.dag_id}  run: {context['run_id']}  task: {ti.task_id}  try: {ti.try_number}",
                f"Error: {error_text(context)}",
            ],
        )
        if sent:
            # A failed task leaves no return value: the replication page reads the rows held here.
            try:
                ti.xcom_push(key=ALERT_XCOM_KEY, value=sent)
            except Exception:
                log.exception("the alert was sent but could not be recorded for the replication page")
