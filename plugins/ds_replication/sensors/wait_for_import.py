"""`wait_for_import`: the slave's folders hold as many jobs as the master exported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from ds_replication.ds_host import DsHost
from ds_replication.sensors import poke_again


class ImportedJobsSensor(BaseSensorOperator):
    """Each imported folder on the slave holds as many jobs as the master exported.

    :param slave: the slave.
    :param export: export_jobs' result (templated: an XComArg): its `folders` and `master_jobs`.
    """

    template_fields: Sequence[str] = ("export",)

    def __init__(self, *, slave: DsHost, export: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slave = slave
        self.export = export

    def poke(self, context: Context) -> PokeReturnValue | bool:
        slave = self.slave
        try:
            counts = slave.job_counts(self.export["folders"])
        except Exception as error:
            return poke_again(self, f"slave database {slave.database} ({slave.mssql_conn_id}) not readable", error)
        if counts != self.export["master_jobs"]:
            self.log.info("slave jobs %s, master exported %s: waiting", counts, self.export["master_jobs"])
            return False
        return PokeReturnValue(is_done=True, xcom_value={"slave_jobs": counts})
