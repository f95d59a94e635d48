"""`import_jobs`: aximport of the copied files on the slave, from its own DS folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from ds_replication import capture_sessions, history
from ds_replication.ds_host import DsHost, ImportFailed
from ds_replication.job_archive import archive_file_names, archive_slave_jobs

# Where import_jobs records the job archive it kept, before it imports (the replication page).
ARCHIVE_XCOM_KEY = "archive"


class ImportJobsOperator(BaseOperator):
    """Wait for an `aximport` still running on the slave (bounded), keep the slave's own jobs of
    each folder in its archive folder, arm the history capture triggers, then import each
    exported file with `aximport <file> /o`, recording aximport's window (from just before the
    first starts to after the last exits) on the slave for the run's report.

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
        # the host aximport runs on, as its session tells SQL Server (HOST_NAME()): the report
        # tells aximport's deletes from other sessions' by it (capture_sessions)
        host = slave.computer_name(self.command_timeout_seconds)
        # From here until restore_history, every history row aximport deletes is copied into the
        # backup by the database itself, at the moment it is deleted (rows written since
        # backup_history included). A retry arms them again; restore_history disarms them (or
        # cleanup, once no aximport runs, when the night fails before).
        with slave.connect() as conn:
            left_armed = history.left_armed(conn)  # an earlier run's arming, said in the result
            history.arm_capture(conn, slave.database)
            window = capture_sessions.open_window(conn, slave.database, host)
        seconds = 0.0
        try:
            for folder, file_name in zip(folders, files, strict=True):
                seconds += slave.import_file(file_name, folder, self.command_timeout_seconds).seconds
        except ImportFailed:
            self._close_window()  # it exited; a timeout or a lost poll leaves the window open (it may run on)
            raise
        window = self._close_window() or window
        return {"files": files, "seconds": round(seconds, 3), "archive": archive, "left_armed": left_armed,
                "window": window}  # fmt: skip

    def _close_window(self) -> dict[str, str] | None:
        """aximport has exited: its window ends now. A failure here only leaves the window open
        until the next import or cleanup: it is logged, never the task's error."""
        try:
            with self.slave.connect() as conn:
                return capture_sessions.close_window(conn, self.slave.database)
        except Exception as error:
            self.log.warning("could not record the end of aximport's window: %s", error)
            return None
