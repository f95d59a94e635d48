"""Sensors that gate each step on what the servers really hold, not on what a tool printed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException

from ds_replication import history, sql
from ds_replication.catalog import folder_job_counts
from ds_replication.lasting import describe, waiting_heals
from ds_replication.shares import open_share


def poke_again(sensor: BaseSensorOperator, what: str, error: Exception) -> bool:
    """False (poke again) after an error that may pass; an error no wait heals fails the
    sensor now, with its message, instead of costing the whole sensor timeout."""
    if not waiting_heals(error):
        raise AirflowFailException(f"{what}: {describe(error)}; waiting will not heal this") from error
    # A poke that raises would bypass the sensor's timeout in reschedule mode: report the
    # problem and poke again instead.
    sensor.log.warning("%s, poking again: %s", what, describe(error))
    return False


class ExportFileSensor(BaseSensorOperator):
    """The run's export files exist on the master's share, are not empty and no longer grow."""

    template_fields: Sequence[str] = ("smb_conn_id", "share")

    def __init__(self, *, smb_conn_id: str, share: str, settle_seconds: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.smb_conn_id = smb_conn_id
        self.share = share
        self.settle_seconds = settle_seconds

    def _sizes(self, hook: Any, files: list[str]) -> dict[str, int]:
        present = set(hook.listdir(""))
        return {name: hook.lstat(name).st_size for name in files if name in present}

    def poke(self, context: Any) -> PokeReturnValue | bool:
        files = context["ti"].xcom_pull(task_ids="export_jobs")["files"]
        try:
            with open_share(self.smb_conn_id, self.share) as hook:
                first = self._sizes(hook, files)
                time.sleep(self.settle_seconds)
                second = self._sizes(hook, files)
        except Exception as error:
            return poke_again(self, f"master share {self.share} ({self.smb_conn_id}) not readable", error)
        missing = [f for f in files if f not in second]
        if missing or first != second or 0 in second.values():
            self.log.info("waiting for export files: missing %s, sizes %s then %s", missing, first, second)
            return False
        return PokeReturnValue(is_done=True, xcom_value={"sizes": second})


class ImportedJobsSensor(BaseSensorOperator):
    """Each imported folder on the slave holds as many jobs as the master exported."""

    template_fields: Sequence[str] = ("mssql_conn_id", "database")

    def __init__(self, *, mssql_conn_id: str, database: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mssql_conn_id = mssql_conn_id
        self.database = database

    def poke(self, context: Any) -> PokeReturnValue | bool:
        export = context["ti"].xcom_pull(task_ids="export_jobs")
        try:
            with sql.connect(self.mssql_conn_id, self.database) as conn:
                slave = folder_job_counts(conn, [(f["name"], f["subfolders"]) for f in export["folders"]])
        except Exception as error:
            return poke_again(self, f"slave database {self.database} ({self.mssql_conn_id}) not readable", error)
        if slave != export["master_jobs"]:
            self.log.info("slave jobs %s, master exported %s: waiting", slave, export["master_jobs"])
            return False
        return PokeReturnValue(is_done=True, xcom_value={"slave_jobs": slave})


class BackupCompleteSensor(BaseSensorOperator):
    """The slave's backup tables exist and can take every column of the live history, so the
    capture triggers import_jobs arms will keep whatever the import deletes. (Not "the backup
    holds every live row": on a DS that runs jobs at night, new rows keep coming, and the
    capture, not the snapshot, is what keeps them.)"""

    template_fields: Sequence[str] = ("mssql_conn_id", "database")

    def __init__(self, *, mssql_conn_id: str, database: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mssql_conn_id = mssql_conn_id
        self.database = database

    def poke(self, context: Any) -> PokeReturnValue | bool:
        try:
            with sql.connect(self.mssql_conn_id, self.database) as conn:
                ready = history.capture_ready(conn, self.database)
        except Exception as error:
            return poke_again(self, f"slave database {self.database} ({self.mssql_conn_id}) not readable", error)
        if not ready:
            self.log.info("backup tables missing or lacking a column of the live history tables")
            return False
        backup = context["ti"].xcom_pull(task_ids="backup_history")
        return PokeReturnValue(is_done=True, xcom_value={"held_rows": backup["held_rows"] if backup else None})
