"""`preflight`: reach every server, and deal with a history backup left by a failed night."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from ds_replication import held_history, history, host_checks
from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.notifications import leftover_alert
from ds_replication.notifications.mail import ALERT_XCOM_KEY, RECOVERY, base_url, link_lines, send_alert


class PreflightOperator(BaseOperator):
    """Check that master and slave answer on WinRM, SQL and SMB, and that the slave's SQL Server
    runs with 'nested triggers' on (the history capture needs it); then, if the slave still holds
    a history backup from an earlier run, alert and restore now the rows whose jobs exist.
    The backup itself is kept until a later import, restore and verification succeed.

    :param master: the master; :param slave: the slave.
    :param restore_changed_jobs: the config's default for the run's `restore_changed_jobs` param.
    :param folders: the slave's configured folders (a leftover backup needs a run of them all).
    :param alert: where its mail goes: `smtp_conn_id`, `from_email`, `to`.
    """

    ui_color = "#fff2cc"

    def __init__(
        self,
        *,
        master: DsHost,
        slave: DsHost,
        restore_changed_jobs: bool,
        folders: list[JobFolder],
        alert: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.master = master
        self.slave = slave
        self.restore_changed_jobs = restore_changed_jobs
        self.folders = folders
        self.alert = alert

    def execute(self, context: Context) -> dict[str, Any]:
        servers = {host.role: host.reach() for host in (self.master, self.slave)}
        params, slave = context["params"], self.slave
        server = servers["slave"]
        assert server is not None  # reach() raised when SQL did not answer
        with slave.connect() as conn:
            # the slave database's checks, as the survey reads them (host_checks.database)
            checks = list(host_checks.database(conn, server, slave))
            host_checks.each_warning(checks, self.log.warning)
            if refused := host_checks.refusals(checks):
                message = host_checks.refusal_text(f"slave {slave.name} not ready", refused)
                if all(check.lasting for check in refused):
                    raise AirflowFailException(message + " (not retried: waiting will not heal this)")
                raise AirflowException(message)
            size = held_history.database_size(server, conn)
            figures = {**held_history.take_stock(conn, slave.database, bool(params.get("dry_run"))), **size}
            if not held_history.anything_found(figures):
                return figures
            if held := figures["leftover_rows"]:
                self.log.warning("slave %s holds %d history rows from an earlier run", slave.name, held)
                held_history.refuse_a_partial_run(slave, held, self.folders, params)
                if not params.get("dry_run"):
                    wanted = params.get("restore_changed_jobs")
                    changed = self.restore_changed_jobs if wanted is None else bool(wanted)
                    figures["restored_rows"] = history.restore(conn, slave.database, changed)["restored_rows"]
        dag_id, run_id = context["ti"].dag_id, context["run_id"]
        subject = f"[DS replication] {slave.name}: " + leftover_alert.headline(figures)
        send_alert(
            subject=subject,
            lines=[
                f"Slave: {slave.name}  DAG: {dag_id}  run: {run_id}",
                *leftover_alert.findings(figures),
                *link_lines(dag_id, run_id, base_url()),
                "",
                RECOVERY,
            ],
            **self.alert,
        )
        record = {"subject": subject, "to": list(self.alert["to"]), "held_rows": figures["leftover_rows"]}
        context["ti"].xcom_push(key=ALERT_XCOM_KEY, value=record)
        return figures
