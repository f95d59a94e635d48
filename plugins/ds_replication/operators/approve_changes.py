"""`approve_changes`: ask in Airflow's Required actions before the import overwrites the slave's own edits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context
from airflow.sdk.bases.xcom import BaseXCom

from ds_replication import local_changes
from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.notifications.mail import base_url, link_lines, send_alert
from ds_replication.run_files import selected_folders

# Where the jobs asked about go (the return value is written only once the answer is in).
CHANGES_XCOM_KEY = "local_changes"


class ApproveChangesOperator(ApprovalOperator):
    """Before anything changes on the slave: find the jobs of its folders edited on the slave since
    the last import, or not on the master (`ds_replication.local_changes`). With `approval`
    `on_local_changes` and some found, or `always`, wait for Approve or Reject in Airflow's
    Required actions (Airflow's ApprovalOperator). Reject skips every later step but the cleanup:
    nothing is imported, no backup taken. No answer within the timeout is a Reject (the
    question's default), and the slave's admins get a mail.

    :param master: the master; :param slave: the slave.
    :param folders: the slave's configured folders (a manual run may pick fewer).
    :param approval: `always`, `on_local_changes` or `never` (config `approval`).
    :param alert: where the timeout mail goes: `smtp_conn_id`, `from_email`, `to`.
    """

    def __init__(
        self,
        *,
        master: DsHost,
        slave: DsHost,
        folders: list[JobFolder],
        approval: str,
        alert: dict[str, Any],
        response_timeout: dt.timedelta,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            subject=f"Import the master's jobs over the changes made on slave {slave.name}?",
            defaults=self.REJECT,  # no answer in time: nothing changes
            ignore_downstream_trigger_rules=True,  # reject: every later step but the teardown is skipped
            response_timeout=response_timeout,
            **kwargs,
        )
        self.master = master
        self.slave = slave
        self.folders = folders
        self.approval = approval
        self.alert = alert

    def execute(self, context: Context) -> Any:
        params = context["params"]
        if params.get("dry_run"):
            return {"asked": False, "why": "dry run: nothing is imported"}
        if params.get("rollback_to"):
            return {"asked": False, "why": "a rollback: chosen by whoever triggered the run"}
        if self.approval == "never":
            return {"asked": False, "why": "approval: never"}
        changes = local_changes.find(self.slave, self.master, selected_folders(self.folders, params))
        self.log.info("jobs changed on the slave or not on the master: %s", changes or "none")
        if not changes and self.approval == "on_local_changes":
            return {"asked": False, "why": "no job was changed on the slave", "local_changes": []}
        context["ti"].xcom_push(key=CHANGES_XCOM_KEY, value=changes)
        self.body = local_changes.as_markdown(self.slave.name, changes)
        return super().execute(context)  # waits in Required actions; resumes in execute_complete

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if "error" in event:  # not a response (the question's default covers a timeout): fails the task
            return super().execute_complete(context, event)
        approved = event["chosen_options"] == [self.APPROVE]
        by = event["responded_by_user"]
        outcome = {
            "asked": True,
            "approved": approved,
            "timed_out": bool(event.get("timedout")),
            "answered_by": by["name"] if isinstance(by, dict) else by,
            "local_changes": context["ti"].xcom_pull(task_ids=self.task_id, key=CHANGES_XCOM_KEY) or [],
        }
        if not approved:
            # ApprovalOperator skips the later steps by raising: this outcome would be lost as a return value
            context["ti"].xcom_push(key=BaseXCom.XCOM_RETURN_KEY, value=outcome)
            if outcome["timed_out"]:
                self.log.warning("no answer within %s: ends like a reject, nothing imported", self.response_timeout)
                self._mail_timeout(context, outcome["local_changes"])
            else:
                self.log.info("rejected by %s: nothing imported, nothing changes on the slave", outcome["answered_by"])
        super().execute_complete(context, event)  # on Reject: skips every later step but the cleanup
        return outcome

    def _mail_timeout(self, context: Context, changes: list[dict[str, str]]) -> None:
        if not self.alert["to"]:
            self.log.warning("no alert_emails configured for slave %s: timeout mail not sent", self.slave.name)
            return
        lines = [
            f"Nobody answered within {self.response_timeout} whether the master's jobs may replace these "
            f"jobs changed on slave {self.slave.name}: nothing was imported, nothing changed on the slave.",
            *(f"{c['folder']}\\{c['job']}: {c['change']}" for c in changes),
            *link_lines(context["dag"].dag_id, context["run_id"], base_url()),
            "Answer the next run's question in Airflow's Required actions, or trigger a run now.",
        ]
        subject = f"[DS replication] {self.slave.name}: no approval in time, nothing imported"
        send_alert(subject=subject, lines=lines, **self.alert)
