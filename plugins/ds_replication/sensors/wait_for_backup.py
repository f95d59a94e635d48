"""`wait_for_backup`: the slave's backup tables can take every column of its live history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from ds_replication import history
from ds_replication.ds_host import DsHost
from ds_replication.sensors import poke_again


class BackupCompleteSensor(BaseSensorOperator):
    """The slave's backup tables exist and can take every column of the live history, so the
    capture triggers import_jobs arms will keep whatever the import deletes. (Not "the backup
    holds every live row": on a DS that runs jobs at night, new rows keep coming, and the
    capture, not the snapshot, is what keeps them.)

    :param slave: the slave.
    :param backup: backup_history's result (templated: an XComArg): its `held_rows`, passed on.
    """

    template_fields: Sequence[str] = ("backup",)

    def __init__(self, *, slave: DsHost, backup: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slave = slave
        self.backup = backup

    def poke(self, context: Context) -> PokeReturnValue | bool:
        slave = self.slave
        try:
            with slave.connect() as conn:
                ready = history.capture_ready(conn, slave.database)
        except Exception as error:
            return poke_again(self, f"slave database {slave.database} ({slave.mssql_conn_id}) not readable", error)
        if not ready:
            self.log.info("backup tables missing or lacking a column of the live history tables")
            return False
        held = self.backup["held_rows"] if self.backup else None
        return PokeReturnValue(is_done=True, xcom_value={"held_rows": held})
