"""The base of the SQL steps on the slave's history (backup_history, restore_history,
verify_history): skipped in a dry run, one connection to the slave's database."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException
from pymssql import Connection

from ds_replication.ds_host import DsHost


class SlaveSqlOperator(BaseOperator):
    """:param slave: the slave whose history the step works on."""

    ui_color = "#ead1dc"

    def __init__(self, *, slave: DsHost, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slave = slave

    def execute(self, context: Context) -> dict[str, Any]:
        if context["params"].get("dry_run"):
            raise AirflowSkipException("dry run: the slave's history is not changed")
        with self.slave.connect() as conn:
            return self.run(conn, context)

    def run(self, conn: Connection, context: Context) -> dict[str, Any]:
        raise NotImplementedError
