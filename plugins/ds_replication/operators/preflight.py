"""`preflight`: reach every server, and deal with a history backup left by a failed night."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException
from pymssql import Connection

from ds_replication import history
from ds_replication.catalog import read_history_tables
from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.notifications import leftover
from ds_replication.notifications.mail import RECOVERY, send_alert
from ds_replication.run_files import selected_folders
from ds_replication.sql_server import NEAR_CAP, SqlServer, data_mb


class PreflightOperator(BaseOperator):
    """Check that master and slave answer on WinRM, SQL and SMB; then, if the slave still holds
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

    def _database_size(self, server: SqlServer | None, conn: Connection) -> dict[str, Any]:
        """The slave database's data size against its edition's cap; a warning near the cap
        (the history backup and archive tables grow it), never a failure."""
        if server is None:
            return {}
        size = data_mb(conn)
        figures = {"sql_server": f"{server.version} {server.edition}", "database_mb": size, "cap_mb": server.cap_mb}
        if server.cap_mb and size >= NEAR_CAP * server.cap_mb:
            self.log.warning(
                "slave %s: database %s holds %.0f MB of data, %.0f%% of the %d MB cap of SQL Server %s; every "
                "night's history backup and the archive tables grow it, and at the cap the DS itself can no "
                "longer write: make room (README, 'Supported servers')",
                self.slave.name,
                self.slave.database,
                size,
                100 * size / server.cap_mb,
                server.cap_mb,
                figures["sql_server"],
            )
        return figures

    def _refuse_a_partial_run(self, context: Context, leftover_rows: int) -> None:
        """A failed night may have left the jobs of any folder missing (a crash mid-import).
        verify_history takes a job that is still missing after this run's import for one removed
        on the master: only a run that imports every folder may verify a leftover backup."""
        params = context["params"]
        if params.get("dry_run") or len(selected_folders(self.folders, params)) == len(self.folders):
            return
        raise AirflowException(
            f"slave {self.slave.name} holds {leftover_rows} history rows from an earlier run that did not finish; "
            f"this run imports only {params['folders']}, and jobs of the other folders may still be missing. "
            "Run all folders (leave 'folders' empty) to recover the held history first."
        )

    def execute(self, context: Context) -> dict[str, Any]:
        servers = {host.role: host.reach() for host in (self.master, self.slave)}
        dry_run = bool(context["params"].get("dry_run"))
        database = self.slave.database
        with self.slave.connect() as conn:
            size = self._database_size(servers["slave"], conn)
            # Reading the catalog refuses history tables that cannot be kept safely, before any change.
            read_history_tables(conn)
            found: dict[str, Any] = {"legacy_tables": [], "adopted_rows": 0}
            if not dry_run:
                found = history.adopt_legacy(conn, database)
            armed = history.capture_triggers(conn)
            held = history.held_rows(conn)
            figures = {
                "leftover_rows": held,
                "restored_rows": 0,
                "legacy_tables": found["legacy_tables"],
                "adopted_rows": found["adopted_rows"],
                "armed_capture_triggers": armed,
                **size,
            }
            if not held and not found["legacy_tables"] and not armed:
                return figures
            if held:
                self.log.warning("slave %s holds %d history rows from an earlier run", self.slave.name, held)
                self._refuse_a_partial_run(context, held)
            if held and not dry_run:
                wanted = context["params"].get("restore_changed_jobs")
                restore_changed = self.restore_changed_jobs if wanted is None else bool(wanted)
                figures["restored_rows"] = history.restore(conn, database, restore_changed)["restored_rows"]
        send_alert(
            subject=f"[DS replication] {self.slave.name}: " + leftover.headline(figures),
            lines=[
                f"Slave: {self.slave.name}  DAG: {context['ti'].dag_id}  run: {context['run_id']}",
                *leftover.findings(figures),
                "",
                RECOVERY,
            ],
            **self.alert,
        )
        return figures
