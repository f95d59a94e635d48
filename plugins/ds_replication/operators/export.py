"""`export_jobs`: axexport of the slave's folders on the master, one file per folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from ds_replication import sql
from ds_replication.catalog import folder_job_counts
from ds_replication.remote import axexport_command, check_export_count, run_command
from ds_replication.run_files import export_file_names, selected_folders
from ds_replication.shares import open_share


class ExportJobsOperator(BaseOperator):
    """Export the job folders on the master with axexport into per-run files in its DS folder.

    Job counts are read from the master's database before the export so that `wait_for_import`
    can check the slave against them; each export is refused when the tool's own count differs.
    A file left by an earlier try is removed first (over SMB: the share is the DS folder), so
    axexport never meets a file it might ask about overwriting.
    """

    template_fields: Sequence[str] = ("winrm_conn_id", "mssql_conn_id", "smb_conn_id", "ds_path")
    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        slave_name: str,
        winrm_conn_id: str,
        mssql_conn_id: str,
        database: str,
        smb_conn_id: str,
        share: str,
        ds_path: str,
        folders: list[dict[str, Any]],
        command_timeout_seconds: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slave_name = slave_name
        self.winrm_conn_id = winrm_conn_id
        self.mssql_conn_id = mssql_conn_id
        self.database = database
        self.smb_conn_id = smb_conn_id
        self.share = share
        self.ds_path = ds_path
        self.folders = folders
        self.command_timeout_seconds = command_timeout_seconds

    def execute(self, context: Any) -> dict[str, Any]:
        folders = selected_folders(self.folders, context["params"])
        files = export_file_names(self.slave_name, context["run_id"], folders)
        with sql.connect(self.mssql_conn_id, self.database) as conn:
            counts = folder_job_counts(conn, [(f["name"], f["subfolders"]) for f in folders])
        missing = [name for name, n in counts.items() if n is None]
        if missing:
            raise AirflowException(f"job folders not found on the master: {missing}")
        with open_share(self.smb_conn_id, self.share) as hook:
            present = set(hook.listdir(""))
            for file_name in files:
                if file_name in present:
                    hook.remove(file_name)
                    self.log.info("removed %s, left by an earlier try", file_name)
        seconds = 0.0
        for folder, file_name in zip(folders, files, strict=True):
            command = axexport_command(self.ds_path, folder["name"], folder["subfolders"], file_name)
            result = run_command(self.winrm_conn_id, command, self.command_timeout_seconds)
            seconds += result.seconds
            if result.return_code != 0:
                raise AirflowException(
                    f"axexport of folder {folder['name']!r} failed with exit code {result.return_code}: "
                    f"{(result.stdout + result.stderr).strip()}"
                )
            check_export_count(result, counts[folder["name"]], f"export of folder {folder['name']!r} on the master")
        self.log.info("exported %s into %s; master job counts %s", [f["name"] for f in folders], files, counts)
        return {
            "folders": folders,
            "files": files,
            "master_jobs": counts,
            "seconds": round(seconds, 3),
        }
