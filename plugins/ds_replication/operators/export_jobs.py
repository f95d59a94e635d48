"""`export_jobs`: axexport of the slave's folders on the master, one file per folder."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from ds_replication import rollback
from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.run_files import export_file_names, selected_folders


class ExportJobsOperator(BaseOperator):
    """Export the job folders on the master with axexport into per-run files in its DS folder.

    Job counts are read from the master's database before the export so that `wait_for_import`
    can check the slave against them; each export is refused when the tool's own count differs.
    A file left by an earlier try is removed first (over SMB: the share is the DS folder), so
    axexport never meets a file it might ask about overwriting.

    :param master: the master.
    :param slave: the slave the files are for (their names carry it; a rollback's files come from its archive).
    :param folders: the slave's configured folders, `{"name", "subfolders"}` each.
    :param command_timeout_seconds: the bound of each axexport.
    """

    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        master: DsHost,
        slave: DsHost,
        folders: list[JobFolder],
        command_timeout_seconds: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.master = master
        self.slave = slave
        self.slave_name = slave.name
        self.folders = folders
        self.command_timeout_seconds = command_timeout_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        folders = selected_folders(self.folders, context["params"])
        if context["params"].get("rollback_to"):  # the slave's own jobs of that night, not the master's
            return self._stage_rollback(context, folders)
        files = export_file_names(self.slave_name, context["run_id"], folders)
        counts = self.master.job_counts(folders)
        missing = [name for name, n in counts.items() if n is None]
        if missing:
            raise AirflowException(f"job folders not found on the master: {missing}")
        for name in self.master.remove_files(files):
            self.log.info("removed %s, left by an earlier try", name)
        seconds = 0.0
        for folder, file_name in zip(folders, files, strict=True):
            what = f"folder {folder['name']!r} on the master"
            seconds += self.master.export_folder(
                folder, file_name, counts[folder["name"]], self.command_timeout_seconds, what
            ).seconds
        self.log.info("exported %s into %s; master job counts %s", [f["name"] for f in folders], files, counts)
        return {"folders": folders, "files": files, "master_jobs": counts, "seconds": round(seconds, 3)}

    def _stage_rollback(self, context: Context, folders: list[JobFolder]) -> dict[str, Any]:
        run_id = str(context["params"]["rollback_to"])
        archive = rollback.archive_of(context, run_id)
        chosen = rollback.plan(folders, archive)
        staged = rollback.stage(self.slave, self.master, context["run_id"], chosen, archive)
        self.log.info("rollback to run %s: its job archive %s staged as %s", run_id, archive, staged["files"])
        return {**staged, "rollback_to": run_id}
