"""One replication DAG per slave, built from the estate configuration."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Param, chain

from ds_replication.alerts import HistoryAlertNotifier, RunTimeoutNotifier
from ds_replication.config import STEP_IDS, Estate, SlaveConfig, load_estate
from ds_replication.operators.cleanup import CleanupSharesOperator
from ds_replication.operators.export import ExportJobsOperator
from ds_replication.operators.history import (
    BackupHistoryOperator,
    RestoreHistoryOperator,
    VerifyHistoryOperator,
)
from ds_replication.operators.importer import ImportJobsOperator
from ds_replication.operators.preflight import PreflightOperator
from ds_replication.operators.share_copy import CopyToSlaveOperator
from ds_replication.sensors import BackupCompleteSensor, ExportFileSensor, ImportedJobsSensor
from ds_replication.templates import SQL_DIR

TASK_IDS = STEP_IDS
# From the import on, a failure leaves history held in the backup: these tasks alert.
ALERTING_TASKS = ("import_jobs", "wait_for_import", "restore_history", "verify_history")

START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

DAG_DOC = """
### Replicate Deployment Server jobs to slave `{slave}`

Exports the job folders {folders} on the master `{master}` with `axexport`, copies the
files to the slave's share (verified by sha256), backs up the slave's job history,
imports with `aximport /o`, restores the history the import deleted, verifies that every
row is back or archived, and cleans up the files. Every step is its own task, gated by a
sensor where the servers must show the result; every step is safe to retry.

A failure from `import_jobs` on sends an alert to {emails}. The history backup is never
dropped before it has been verified: re-run the DAG to recover (README, "Recovering from a
failed night").
"""

TASK_DOCS = {
    "preflight": "Reach master and slave (WinRM, SQL, SMB); restore and report a leftover backup.",
    "export_jobs": "`axexport` of each folder on the master into a per-run file; master job counts to XCom.",
    "wait_for_export": "The export files exist on the master's share and their size is stable.",
    "copy_to_slave": "Stream the files master share -> slave share as `.part`; renamed once sha256 match.",
    "backup_history": "live history into the backup tables; a leftover backup is kept.",
    "wait_for_backup": "The backup holds every live history row, by primary key.",
    "import_jobs": "The slave's own jobs of each folder kept with `axexport` in its `ds_replication_archive` folder, "
    "then `aximport <file> /o` on the slave from its local DS folder.",
    "wait_for_import": "The slave's job counts per folder equal the master's.",
    "restore_history": "`restore_history.sql`: rows whose key is not live and whose job exists go back; "
    "changed jobs are reported.",
    "verify_history": "every backup row live or archived; only then is the backup dropped.",
    "cleanup": "Remove the run's files from both shares, whatever happened before.",
}


def _params(slave: SlaveConfig) -> dict[str, Param]:
    names = [f.name for f in slave.folders]
    return {
        "folders": Param(
            [],
            type="array",
            items={"type": "string", "enum": names},
            title="Folders to replicate",
            description=f"Job folders to replicate in this run; empty means all configured: {names}.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Export and copy, then stop before anything changes on the slave "
            "(backup, import, restore and verify are skipped).",
        ),
        "restore_changed_jobs": Param(
            slave.restore_changed_jobs,
            type="boolean",
            title="Restore history of changed jobs",
            description="Restore the history of jobs whose content changed in this import (it may describe "
            "an older revision of the job). Off: that history goes to the archive table.",
        ),
    }


def _host(config: Any) -> dict[str, str]:
    return {
        "winrm_conn_id": config.winrm_conn_id,
        "mssql_conn_id": config.mssql_conn_id,
        "smb_conn_id": config.smb_conn_id,
        "share": config.share,
        "database": config.database,
    }


def build_dag(estate: Estate, slave: SlaveConfig) -> DAG:
    master = estate.master
    folders = [{"name": f.name, "subfolders": f.subfolders} for f in slave.folders]
    command_timeout = slave.command_timeout_minutes * 60
    sensor_args = {
        "mode": "reschedule",
        "poke_interval": slave.sensor_poke_seconds,
        "timeout": slave.sensor_timeout_minutes * 60,
        "execution_timeout": dt.timedelta(minutes=slave.sensor_timeout_minutes),
    }
    notifier = HistoryAlertNotifier(
        slave_name=slave.name,
        mssql_conn_id=slave.mssql_conn_id,
        database=slave.database,
        to=list(slave.alert_emails),
        smtp_conn_id=slave.smtp_conn_id,
        from_email=slave.alert_from,
    )
    with DAG(
        dag_id=slave.dag_id,
        schedule=slave.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        # a run stuck (a missing pool, a hung step) would block every later night silently
        dagrun_timeout=dt.timedelta(minutes=slave.run_minutes()),
        on_failure_callback=RunTimeoutNotifier(
            slave_name=slave.name,
            mssql_conn_id=slave.mssql_conn_id,
            database=slave.database,
            run_minutes=slave.run_minutes(),
            export_pool=master.export_pool,
            to=list(slave.alert_emails),
            smtp_conn_id=slave.smtp_conn_id,
            from_email=slave.alert_from,
        ),
        is_paused_upon_creation=not slave.enabled,
        tags=["ds-replication", f"master:{master.name}", f"slave:{slave.name}"],
        template_searchpath=[str(SQL_DIR)],
        doc_md=DAG_DOC.format(
            slave=slave.name,
            master=master.name,
            folders=", ".join(f"`{f.name}`" for f in slave.folders),
            emails=", ".join(slave.alert_emails) or "nobody (no alert_emails configured)",
        ),
        params=_params(slave),
        default_args={
            "owner": "ds-replication",
            "retries": slave.retries,
            "retry_delay": dt.timedelta(minutes=slave.retry_delay_minutes),
            "retry_exponential_backoff": True,
            "execution_timeout": dt.timedelta(minutes=slave.task_timeout_minutes),
        },
    ) as dag:
        tasks = [
            PreflightOperator(
                task_id="preflight",
                slave_name=slave.name,
                hosts={"master": _host(master), "slave": _host(slave)},
                slave_database=slave.database,
                restore_changed_jobs=slave.restore_changed_jobs,
                folders=folders,
                alert={
                    "smtp_conn_id": slave.smtp_conn_id,
                    "from_email": slave.alert_from,
                    "to": list(slave.alert_emails),
                },
            ),
            ExportJobsOperator(
                task_id="export_jobs",
                slave_name=slave.name,
                winrm_conn_id=master.winrm_conn_id,
                mssql_conn_id=master.mssql_conn_id,
                database=master.database,
                smb_conn_id=master.smb_conn_id,
                share=master.share,
                ds_path=master.ds_path,
                folders=folders,
                command_timeout_seconds=command_timeout,
                execution_timeout=dt.timedelta(minutes=slave.task_minutes("export_jobs")),
                pool=master.export_pool,
            ),
            ExportFileSensor(
                task_id="wait_for_export", smb_conn_id=master.smb_conn_id, share=master.share, **sensor_args
            ),
            CopyToSlaveOperator(
                task_id="copy_to_slave",
                master_smb_conn_id=master.smb_conn_id,
                master_share=master.share,
                slave_smb_conn_id=slave.smb_conn_id,
                slave_share=slave.share,
            ),
            BackupHistoryOperator(task_id="backup_history", mssql_conn_id=slave.mssql_conn_id, database=slave.database),
            BackupCompleteSensor(
                task_id="wait_for_backup", mssql_conn_id=slave.mssql_conn_id, database=slave.database, **sensor_args
            ),
            ImportJobsOperator(
                task_id="import_jobs",
                slave_name=slave.name,
                slave=_host(slave),
                ds_path=slave.ds_path,
                command_timeout_seconds=command_timeout,
                execution_timeout=dt.timedelta(minutes=slave.task_minutes("import_jobs")),
                on_failure_callback=notifier,
            ),
            ImportedJobsSensor(
                task_id="wait_for_import",
                mssql_conn_id=slave.mssql_conn_id,
                database=slave.database,
                on_failure_callback=notifier,
                **sensor_args,
            ),
            RestoreHistoryOperator(
                task_id="restore_history",
                mssql_conn_id=slave.mssql_conn_id,
                database=slave.database,
                restore_changed_jobs=slave.restore_changed_jobs,
                on_failure_callback=notifier,
            ),
            VerifyHistoryOperator(
                task_id="verify_history",
                mssql_conn_id=slave.mssql_conn_id,
                database=slave.database,
                on_failure_callback=notifier,
            ),
            CleanupSharesOperator(
                task_id="cleanup",
                slave_name=slave.name,
                master_smb_conn_id=master.smb_conn_id,
                master_share=master.share,
                slave_smb_conn_id=slave.smb_conn_id,
                slave_share=slave.share,
            ).as_teardown(),  # runs after a failure too, and does not decide the run's state
        ]
        for task in tasks:
            task.doc_md = TASK_DOCS[task.task_id]
        chain(*tasks)
    return dag


def build_dags(estate: Estate | None = None) -> dict[str, DAG]:
    """Every slave's DAG by dag_id, from `estate` or the configured estate file."""
    estate = estate or load_estate()
    return {slave.dag_id: build_dag(estate, slave) for slave in estate.slave_configs()}
