"""`cleanup`: remove the run's files from both shares, whatever happened before, and what the
slave's `retention` lets go."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context

from ds_replication import capture_end, retention
from ds_replication.config import Retention
from ds_replication.ds_host import DsHost
from ds_replication.run_files import slave_file_pattern


class CleanupSharesOperator(BaseOperator):
    """Delete this slave's export files (and partial copies) on the master's and the slave's share,
    then apply the retention to the slave's job archives and archive tables (`ds_replication.retention`).

    Files are found by the names this slave's runs write (`slave_file_pattern`), not read from
    XCom, so files of a run that failed half-way, or whose own cleanup failed, go too (`max_active_runs=1`: no other run
    of this slave can be using them). Missing files are fine: the step is safe to repeat. The
    retention removes nothing while a history backup is held, on a dry run, or after a night
    that `verify_history` did not complete.

    A capture still armed (the night failed after import_jobs armed it, before restore_history
    disarmed it) is disarmed first, once no aximport runs on the slave (`capture_end`); not after
    a night preflight refused, which armed nothing.

    :param master: the master; :param slave: the slave; :param retention: the slave's `retention`.
    :param command_timeout_seconds: the bound of the remote command that asks whether aximport runs.
    """

    def __init__(
        self, *, master: DsHost, slave: DsHost, retention: Retention, command_timeout_seconds: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.master = master
        self.slave = slave
        self.retention = retention
        self.command_timeout_seconds = command_timeout_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        capture = None
        # A dry run changes nothing on the slave; a night preflight refused armed nothing, and
        # its server may lack what the check reads (SQL Server 2000 has no sys.* views).
        if not context["params"].get("dry_run") and context["ti"].xcom_pull(task_ids="preflight") is not None:
            capture = capture_end.end_capture(self.slave, self.command_timeout_seconds)
        pattern = slave_file_pattern(self.slave.name)
        removed: dict[str, Any] = {
            "master": self.master.remove_matching(pattern),
            "slave": self.slave.remove_matching(pattern),
        }
        if capture is not None:
            removed["capture"] = capture
        self.log.info("removed %s", removed)
        if context["params"].get("dry_run"):  # a dry run changes nothing on the slave
            self.log.info("dry run: the retention removes nothing")
            removed["retention"] = {"skipped": "dry run"}
            return removed
        # Only after a verified night: a failed or rejected one may have met a server the package
        # refuses (preflight), and its archives are what a recovery needs.
        if context["ti"].xcom_pull(task_ids="verify_history") is None:
            self.log.info("the night was not verified: the retention removes nothing")
            removed["retention"] = {"skipped": "the night was not verified"}
            return removed
        removed["retention"] = retention.apply(self.slave, self.retention, context["dag_run"].run_after.date())
        return removed
