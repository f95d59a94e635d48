"""`backup_history`, `restore_history`, `verify_history`: the SQL steps on the slave."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from ds_replication import history, sql


class _SlaveHistoryOperator(BaseOperator):
    template_fields: Sequence[str] = ("mssql_conn_id", "database")
    template_ext: Sequence[str] = ()
    ui_color = "#ead1dc"

    def __init__(self, *, mssql_conn_id: str, database: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mssql_conn_id = mssql_conn_id
        self.database = database

    def execute(self, context: Any) -> dict[str, Any]:
        if context["params"].get("dry_run"):
            raise AirflowSkipException("dry run: the slave's history is not changed")
        with sql.connect(self.mssql_conn_id, self.database) as conn:
            return self.run(conn, context)

    def run(self, conn: Any, context: Any) -> dict[str, Any]:
        raise NotImplementedError


class BackupHistoryOperator(_SlaveHistoryOperator):
    """Copy the live history into the backup tables (include/sql/backup_history.sql)."""

    def run(self, conn: Any, context: Any) -> dict[str, Any]:
        return history.backup(conn, self.database)


class RestoreHistoryOperator(_SlaveHistoryOperator):
    """Put back the history rows the import deleted (include/sql/restore_history.sql)."""

    def __init__(self, *, restore_changed_jobs: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.restore_changed_jobs = restore_changed_jobs

    def run(self, conn: Any, context: Any) -> dict[str, Any]:
        # The import is over (wait_for_import saw every job): stop copying deletes into the backup.
        history.disarm_capture(conn, self.database)
        wanted = context["params"].get("restore_changed_jobs")
        return history.restore(conn, self.database, self.restore_changed_jobs if wanted is None else bool(wanted))


class VerifyHistoryOperator(_SlaveHistoryOperator):
    """Account for every backup row, archive the rest, drop the backup (include/sql/verify_history.sql)."""

    def run(self, conn: Any, context: Any) -> dict[str, Any]:
        return history.verify(conn, self.database)
