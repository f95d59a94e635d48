"""`verify_history`: every backup row live or archived; only then is the backup dropped."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from pymssql import Connection

from ds_replication import history
from ds_replication.operators.slave_sql import SlaveSqlOperator


class VerifyHistoryOperator(SlaveSqlOperator):
    """Account for every backup row, archive the rest, drop the backup (include/sql/verify_history.sql)."""

    def run(self, conn: Connection, context: Context) -> dict[str, Any]:
        return history.verify(conn, self.slave.database)
