"""`preflight`: reach every server, and deal with a history backup left by a failed night."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from ds_replication import history, sql
from ds_replication.alerts import RECOVERY, send_alert
from ds_replication.catalog import read_history_tables
from ds_replication.lasting import LastingError
from ds_replication.remote import run_command
from ds_replication.run_files import selected_folders
from ds_replication.shares import open_share, refuse_smb1
from ds_replication.sql_server import NEAR_CAP, SqlServer, data_mb, read_server, refuse_old

REACH_TIMEOUT_SECONDS = 120


class PreflightOperator(BaseOperator):
    """Check that master and slave answer on WinRM, SQL and SMB; then, if the slave still holds
    a history backup from an earlier run, alert and restore now the rows whose jobs exist.
    The backup itself is kept until a later import, restore and verification succeed."""

    template_fields: Sequence[str] = ("slave_name",)
    ui_color = "#fff2cc"

    def __init__(
        self,
        *,
        slave_name: str,
        hosts: dict[str, dict[str, str]],
        slave_database: str,
        restore_changed_jobs: bool,
        folders: list[dict[str, Any]],
        alert: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slave_name = slave_name
        self.folders = folders
        self.hosts = hosts  # {"master": {winrm_conn_id, mssql_conn_id, smb_conn_id, share, database}, "slave": {...}}
        self.slave_database = slave_database
        self.restore_changed_jobs = restore_changed_jobs
        self.alert = alert  # smtp_conn_id, from_email, to

    def _reach(self, role: str, host: dict[str, str]) -> SqlServer | None:
        """Every problem of the host in one message; the host's SQL Server when it answers."""
        problems: list[tuple[str, Exception]] = []
        server = None
        try:
            with sql.connect(host["mssql_conn_id"], host["database"]) as conn:
                sql.query(conn, "SELECT 1 AS ok")
                server = read_server(conn)
            refuse_old(server, host["mssql_conn_id"])
        except Exception as error:
            problems.append((f"SQL ({host['mssql_conn_id']})", error))
        try:
            result = run_command(host["winrm_conn_id"], "ver", REACH_TIMEOUT_SECONDS)
            if result.return_code != 0:
                raise AirflowException(f"'ver' exited {result.return_code}")
        except Exception as error:
            problems.append((f"WinRM ({host['winrm_conn_id']})", error))
        try:
            refuse_smb1(host["smb_conn_id"])  # in seconds, before smbprotocol's own timeouts
            with open_share(host["smb_conn_id"], host["share"]) as hook:
                hook.listdir("")
        except Exception as error:
            problems.append((f"SMB ({host['smb_conn_id']}, share {host['share']})", error))
        if problems:
            message = f"{role} not reachable: " + "; ".join(f"{where}: {error}" for where, error in problems)
            # an old server needs a person: no retry would help
            if all(isinstance(error, LastingError) for _, error in problems):
                raise AirflowFailException(message + " (not retried: waiting will not heal this)")
            raise AirflowException(message)
        return server

    def _database_size(self, server: SqlServer | None, conn: Any) -> dict[str, Any]:
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
                self.slave_name,
                self.slave_database,
                size,
                100 * size / server.cap_mb,
                server.cap_mb,
                figures["sql_server"],
            )
        return figures

    def _refuse_a_partial_run(self, context: Any, leftover: int) -> None:
        """A failed night may have left the jobs of any folder missing (a crash mid-import).
        verify_history takes a job that is still missing after this run's import for one removed
        on the master: only a run that imports every folder may verify a leftover backup."""
        params = context["params"]
        if params.get("dry_run") or len(selected_folders(self.folders, params)) == len(self.folders):
            return
        raise AirflowException(
            f"slave {self.slave_name} holds {leftover} history rows from an earlier run that did not finish; "
            f"this run imports only {params['folders']}, and jobs of the other folders may still be missing. "
            "Run all folders (leave 'folders' empty) to recover the held history first."
        )

    def execute(self, context: Any) -> dict[str, Any]:
        servers = {role: self._reach(role, host) for role, host in self.hosts.items()}
        dry_run = bool(context["params"].get("dry_run"))
        with sql.connect(self.hosts["slave"]["mssql_conn_id"], self.slave_database) as conn:
            size = self._database_size(servers["slave"], conn)
            # Reading the catalog refuses history tables that cannot be kept safely, before any change.
            read_history_tables(conn)
            found: dict[str, Any] = {"legacy_tables": [], "adopted_rows": 0}
            if not dry_run:
                found = history.adopt_legacy(conn, self.slave_database)
            armed = history.capture_triggers(conn)
            leftover = history.held_rows(conn)
            figures = {
                "leftover_rows": leftover,
                "restored_rows": 0,
                "legacy_tables": found["legacy_tables"],
                "adopted_rows": found["adopted_rows"],
                "armed_capture_triggers": armed,
                **size,
            }
            if not leftover and not found["legacy_tables"] and not armed:
                return figures
            if leftover:
                self.log.warning("slave %s holds %d history rows from an earlier run", self.slave_name, leftover)
                self._refuse_a_partial_run(context, leftover)
            if leftover and not dry_run:
                wanted = context["params"].get("restore_changed_jobs")
                restored = history.restore(
                    conn, self.slave_database, self.restore_changed_jobs if wanted is None else bool(wanted)
                )
                figures["restored_rows"] = restored["restored_rows"]
        send_alert(
            subject=f"[DS replication] {self.slave_name}: " + self._headline(figures),
            lines=[
                f"Slave: {self.slave_name}  DAG: {context['ti'].dag_id}  run: {context['run_id']}",
                *self._findings(figures),
                "",
                RECOVERY,
            ],
            **self.alert,
        )
        return figures

    @staticmethod
    def _headline(figures: dict[str, Any]) -> str:
        if figures["leftover_rows"]:
            return f"{figures['leftover_rows']} history rows held from an earlier run"
        if figures["legacy_tables"]:
            return f"{', '.join(figures['legacy_tables'])} of an older procedure found, rows adopted"
        return "capture triggers left armed by an import that did not finish"

    @staticmethod
    def _findings(figures: dict[str, Any]) -> list[str]:
        lines = []
        if figures["legacy_tables"]:
            lines.append(
                f"Found {', '.join(figures['legacy_tables'])} from an older procedure (the seed article's script "
                f"or an older version of this package): left as it is; {figures['adopted_rows']} of its history "
                f"rows were adopted into {history.BACKUP_TABLE}, to be restored or archived like any held row. "
                "Disable the old import script; the old table can be dropped once adopted."
            )
        if figures["armed_capture_triggers"]:
            lines.append(
                f"Found the capture trigger(s) {', '.join(figures['armed_capture_triggers'])} armed by an import "
                "that did not finish (a killed worker): they stay armed, copying deleted history into the "
                "backup, until this run's restore_history disarms them."
            )
        if figures["leftover_rows"]:
            lines.append(
                f"The slave still held {figures['leftover_rows']} history rows in {history.BACKUP_TABLE} from a run "
                "that did not finish (a failure, or a worker killed before its alert could go out)."
            )
            lines.append(
                f"Rows put back now (their jobs exist): {figures['restored_rows']}. This run goes on and keeps the "
                "backup until its import and restore succeed."
            )
        return lines
