"""`verify_history`: every backup row live or archived; only then is the backup dropped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from pymssql import Connection

from ds_replication import capture_sessions, history, local_changes
from ds_replication.ds_host import DsHost
from ds_replication.operators.slave_sql import SlaveSqlOperator

# Where a verification that found rows lost records its figures.
FIGURES_XCOM_KEY = "figures"


class VerifyHistoryOperator(SlaveSqlOperator):
    """Account for every backup row, archive the rest, drop the backup (include/sql/verify_history.sql);
    then record the jobs of the imported folders as the import left them (approve_changes finds
    later edits against them).

    :param slave: the slave.
    :param export: export_jobs' result (templated: an XComArg): its `folders` are the imported ones.
    :param restore: restore_history's result (templated: an XComArg): its report of the captured
        rows' sessions is returned again here. restore_history disarmed the capture before it read
        them, and verify runs only after it succeeded, so the backup's captured rows are still
        what it counted; verify_history.sql itself trusts nothing restore said.
    """

    template_fields: Sequence[str] = ("export", "restore")

    def __init__(self, *, slave: DsHost, export: Any, restore: Any, **kwargs: Any) -> None:
        super().__init__(slave=slave, **kwargs)
        self.export = export
        self.restore = restore

    def run(self, conn: Connection, context: Context) -> dict[str, Any]:
        captured = capture_sessions.carried(self.restore or {})
        if captured is None:  # a result without the report: read it before verify drops the backup
            captured = capture_sessions.report(conn)
        else:
            capture_sessions.warn(captured)
        try:
            figures = history.verify(conn, self.slave.database)
        except history.HistoryLost as error:
            # a failed task leaves no return value: the replication page reads the lost rows here
            context["ti"].xcom_push(key=FIGURES_XCOM_KEY, value=error.figures)
            raise
        return {
            **figures,
            **captured,
            "recorded_jobs": local_changes.record_imported(conn, self.slave.database, self.export["folders"]),
        }
