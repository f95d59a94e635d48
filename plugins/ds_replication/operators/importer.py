"""`import_jobs`: aximport of the copied files on the slave, from its own DS folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from ds_replication import history, sql
from ds_replication.cmd_quote import quote_arg
from ds_replication.job_archive import archive_file_names, archive_slave_jobs
from ds_replication.remote import ds_tool, in_ds_folder, run_command, wait_while_running


def aximport_command(ds_path: str, file_name: str) -> str:
    # A local path on the slave: reading the master's share from a WinRM shell would be a
    # credential double hop.
    return in_ds_folder(ds_path, f"{ds_tool('aximport')} {quote_arg(file_name)} /o")


class ImportJobsOperator(BaseOperator):
    """Wait for an `aximport` still running on the slave (bounded), keep the slave's own jobs of
    each folder in its archive folder, arm the history capture triggers, then import each
    exported file with `aximport <file> /o`."""

    template_fields: Sequence[str] = ("ds_path",)
    ui_color = "#fce5cd"

    def __init__(
        self,
        *,
        slave_name: str,
        slave: dict[str, str],
        ds_path: str,
        command_timeout_seconds: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slave_name = slave_name
        self.slave = slave  # the slave's winrm_conn_id, mssql_conn_id, smb_conn_id, share, database
        self.ds_path = ds_path
        self.command_timeout_seconds = command_timeout_seconds

    def execute(self, context: Any) -> dict[str, Any]:
        if context["params"].get("dry_run"):
            raise AirflowSkipException("dry run: the slave's jobs are not imported")
        export = context["ti"].xcom_pull(task_ids="export_jobs")
        # an aximport left running by an earlier try (its worker killed) must end first
        wait_while_running(
            self.slave["winrm_conn_id"], "aximport.exe", f"slave {self.slave_name}", self.command_timeout_seconds
        )
        archive = archive_slave_jobs(
            slave=self.slave,
            ds_path=self.ds_path,
            folders=export["folders"],
            names=archive_file_names(
                self.slave_name, context["run_id"], context["dag_run"].run_after, len(export["folders"])
            ),
            command_timeout_seconds=self.command_timeout_seconds,
        )
        # From here until restore_history, every history row aximport deletes is copied into the
        # backup by the database itself, at the moment it is deleted (rows written since
        # backup_history included). A retry arms them again; restore_history disarms them.
        with sql.connect(self.slave["mssql_conn_id"], self.slave["database"]) as conn:
            history.arm_capture(conn, self.slave["database"])
        seconds = 0.0
        for folder, file_name in zip(export["folders"], export["files"], strict=True):
            result = run_command(
                self.slave["winrm_conn_id"], aximport_command(self.ds_path, file_name), self.command_timeout_seconds
            )
            seconds += result.seconds
            if result.return_code != 0:
                raise AirflowException(
                    f"aximport of {file_name} (folder {folder['name']!r}) failed with exit code "
                    f"{result.return_code}: {(result.stdout + result.stderr).strip()}; the history backup "
                    "is kept and restore_history will put it back after a successful import"
                )
        return {"files": export["files"], "seconds": round(seconds, 3), "archive": archive}
