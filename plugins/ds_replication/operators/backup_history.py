"""`backup_history`: the slave's live history into the backup tables."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from pymssql import Connection

from ds_replication import history
from ds_replication.operators.slave_sql import SlaveSqlOperator


class BackupHistoryOperator(SlaveSqlOperator):
    """Copy the live history into the backup tables (include/sql/backup_history.sql)."""

    def run(self, conn: Connection, context: Context) -> dict[str, Any]:
        return history.backup(conn, self.slave.database)
