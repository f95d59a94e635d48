"""`restore_history`: put back the history rows the import deleted."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from pymssql import Connection

from ds_replication import capture_sessions, history
from ds_replication.catalog import read_history_tables
from ds_replication.operators.slave_sql import SlaveSqlOperator


class RestoreHistoryOperator(SlaveSqlOperator):
    """Put back the history rows the import deleted (include/sql/restore_history.sql).

    :param restore_changed_jobs: the config's default for the run's `restore_changed_jobs` param.
    """

    def __init__(self, *, restore_changed_jobs: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.restore_changed_jobs = restore_changed_jobs

    def run(self, conn: Connection, context: Context) -> dict[str, Any]:
        tables = read_history_tables(conn)  # once for the step: the disarm, the restore and the report
        # The import is over (wait_for_import saw every job): stop copying deletes into the backup.
        history.disarm_capture(conn, self.slave.database, tables)
        wanted = context["params"].get("restore_changed_jobs")
        restore_changed = self.restore_changed_jobs if wanted is None else bool(wanted)
        figures = history.restore(conn, self.slave.database, restore_changed, tables)
        # the held rows another session than aximport deleted: named here, restored like the others
        # (verify_history returns the same report, from this result)
        return {**figures, **capture_sessions.report(conn, tables)}
