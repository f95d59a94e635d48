"""`import_jobs`: aximport of the copied files on the slave, from its own DS folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from ds_replication import history
from ds_replication.ds_host import DsHost
from ds_replication.job_archive import archive_file_names, archive_slave_jobs

# Where import_jobs records the job archive it kept, before it imports (the replication page).
ARCHIVE_XCOM_KEY = "archive"


class ImportJobsOperator(BaseOperator):
    """Wait for an `aximport` still running on the slave (bounded), keep the slave's own jobs of
    each folder in its archive folder, arm the history capture triggers, then import each
    exported file with `aximport <file> /o`.

    :param slave: the slave.
    :param export: export_jobs' result (templated: an XComArg): its `folders` and `files`.
    :param command_timeout_seconds: the bound of each remote command (and of the wait).
    """

    template_fields: Sequence[str] = ("export",)
    ui_color = "#fce5cd"

    def __init__(self, *, slave: DsHost, export: Any, command_timeout_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slave = slave
        self.export = export
        self.command_timeout_seconds = command_timeout_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        if context["params"].get("dry_run"):
            raise AirflowSkipException("dry run: the slave's jobs are not imported")
        slave, folders, files = self.slave, self.export["folders"], self.export["files"]
        # an aximport left running by an earlier try (its worker killed) must end first
        slave.wait_for_no_import(self.command_timeout_seconds)
        names = archive_file_names(slave.name, context["run_id"], context["dag_run"].run_after, len(folders))
        archive = archive_slave_jobs(slave, folders, names, self.command_timeout_seconds)
        # A failed import leaves no return value: the page names the archive from this one.
        context["ti"].xcom_push(key=ARCHIVE_XCOM_KEY, value=archive)
        # From here until restore_history, every history row aximport deletes is copied into the
        # backup by the database itself, at the moment it is deleted (rows written since
        # backup_history included). A retry arms them again; restore_history disarms them.
        with slave.connect() as conn:
            left_armed = history.left_armed(conn)  # an earlier run's arming, said in the result
            history.arm_capture(conn, slave.database)
        seconds = 0.0
        for folder, file_name in zip(folders, files, strict=True):
            seconds += slave.import_file(file_name, folder, self.command_timeout_seconds).seconds
        return {"files": files, "seconds": round(seconds, 3), "archive": archive, "left_armed": left_armed}
