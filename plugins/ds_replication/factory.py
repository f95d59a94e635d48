"""One replication DAG per slave, built from the estate configuration and the step table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import (
    DAG,
    BaseOperator,
    BaseSensorOperator,
    CronTriggerTimetable,
    Param,
    chain,
    get_parsing_context,
)

from ds_replication.config import Estate, SlaveConfig, load_estate
from ds_replication.ds_host import DsHost
from ds_replication.notifications.history_alert import HistoryAlertNotifier
from ds_replication.notifications.lost_worker import LostWorkerNotifier
from ds_replication.notifications.mail import mail_to
from ds_replication.notifications.run_timeout import RunTimeoutNotifier
from ds_replication.notifications.task_error import record_error
from ds_replication.operators.approve_changes import ApproveChangesOperator
from ds_replication.operators.backup_history import BackupHistoryOperator
from ds_replication.operators.cleanup import CleanupSharesOperator
from ds_replication.operators.copy_to_slave import CopyToSlaveOperator
from ds_replication.operators.export_jobs import ExportJobsOperator
from ds_replication.operators.import_jobs import ImportJobsOperator
from ds_replication.operators.preflight import PreflightOperator
from ds_replication.operators.restore_history import RestoreHistoryOperator
from ds_replication.operators.survey_host import SurveyHostOperator
from ds_replication.operators.verify_history import VerifyHistoryOperator
from ds_replication.sensors.wait_for_backup import BackupCompleteSensor
from ds_replication.sensors.wait_for_export import ExportFileSensor
from ds_replication.sensors.wait_for_import import ImportedJobsSensor
from ds_replication.survey import HOST_SECONDS

SURVEY_DAG_ID = "survey_estate"


@dataclass(frozen=True)
class Step:
    """One task of the DAG. `takes` maps an argument of the operator to the step whose result
    it receives (an XComArg, rendered when the task runs): no operator knows another's id."""

    task_id: str
    operator: type[BaseOperator]
    doc: str
    # from the import on, a failure leaves history held: mail the admins; so does a try lost
    # with its worker (a retry callback that speaks only for a lost try)
    alerts: bool = False
    takes: dict[str, str] = field(default_factory=dict)
    teardown: bool = False  # runs after a failure too, and does not decide the run's state


# The run, in order: each step is gated by the one before.
STEPS = (
    Step(
        "preflight",
        PreflightOperator,
        "Reach master and slave (WinRM, SQL, SMB); restore and report a leftover backup.",
    ),
    Step(
        "export_jobs",
        ExportJobsOperator,
        "`axexport` of each folder on the master into a per-run file; master job counts to XCom.",
    ),
    Step(
        "wait_for_export",
        ExportFileSensor,
        "The export files exist on the master's share and their size is stable.",
        takes={"export": "export_jobs"},
    ),
    Step(
        "copy_to_slave",
        CopyToSlaveOperator,
        "Stream the files master share -> slave share as `.part`; renamed once read back equal.",
        takes={"export": "export_jobs"},
    ),
    Step(
        "approve_changes",
        ApproveChangesOperator,
        "Jobs changed on the slave since the last import, or not on the master: with `approval` "
        "on_local_changes (and some found) or always, wait for Approve or Reject in Required actions. "
        "Reject or no answer in time: nothing is imported, nothing changes on the slave.",
    ),
    Step("backup_history", BackupHistoryOperator, "live history into the backup tables; a leftover backup is kept."),
    Step(
        "wait_for_backup",
        BackupCompleteSensor,
        "The backup tables exist and take every column of the live history, so the capture keeps what the "
        "import deletes.",
        takes={"backup": "backup_history"},
    ),
    Step(
        "import_jobs",
        ImportJobsOperator,
        "The slave's own jobs of each folder kept with `axexport` in its `ds_replication_archive` folder, "
        "then `aximport <file> /o` on the slave from its local DS folder.",
        alerts=True,
        takes={"export": "export_jobs"},
    ),
    Step(
        "wait_for_import",
        ImportedJobsSensor,
        "The slave's job counts per folder equal the master's.",
        alerts=True,
        takes={"export": "export_jobs"},
    ),
    Step(
        "restore_history",
        RestoreHistoryOperator,
        "`restore_history.sql`: rows whose key is not live and whose job exists go back; changed jobs are reported.",
        alerts=True,
    ),
    Step(
        "verify_history",
        VerifyHistoryOperator,
        "every backup row live or archived; only then is the backup dropped.",
        alerts=True,
        takes={"export": "export_jobs", "restore": "restore_history"},
    ),
    Step(
        "cleanup",
        CleanupSharesOperator,
        "Remove the run's files from both shares, whatever happened before; then the job archives and "
        "archive-table rows older than the slave's `retention` (none while a backup is held).",
        teardown=True,
    ),
)
TASK_IDS = tuple(step.task_id for step in STEPS)
ALERTING_TASKS = tuple(step.task_id for step in STEPS if step.alerts)

DAG_DOC = """
### Replicate Deployment Server jobs to slave `{slave}`

Exports the job folders {folders} on the master `{master}` with `axexport`, copies the
files to the slave's share (verified by reading them back), backs up the slave's job history,
imports with `aximport /o`, restores the history the import deleted, verifies that every
row is back or archived, and cleans up the files. Every step is its own task, gated by a
sensor where the servers must show the result; every step is safe to retry.

A failure from `import_jobs` on sends an alert to {emails}. The history backup is never
dropped before it has been verified: trigger a new run to recover, do not clear the failed task
(docs/recovery.md, "Recovering from a failed night"). What each run did: Browse -> DS
replication, or a run's "What this run did" tab.
"""


def _params(slave: SlaveConfig) -> dict[str, Param]:
    """The trigger form. Airflow 3.3's form shows a searchable multi-select only for an array
    with a top-level `examples`, and marks every field whose type excludes null as required:
    each field has a default, so each admits null, which the operators read as that default
    (no folders: all of them; no dry_run: a real run; no restore_changed_jobs: the config's)."""
    names = [f.name for f in slave.folders]
    return {
        "folders": Param(
            [],
            type=["array", "null"],
            items={"type": "string", "enum": names},
            examples=names,
            title="Folders to replicate",
            description="Pick the job folders this run replicates. Leave it empty to replicate every "
            f"configured folder ({', '.join(names)}).",
        ),
        "dry_run": Param(
            False,
            type=["boolean", "null"],
            title="Dry run",
            description="On: export and copy the jobs, then stop before anything changes on the slave "
            "(backup, import, restore and verify are skipped). The run gets a note saying it was a dry run.",
        ),
        "restore_changed_jobs": Param(
            slave.restore_changed_jobs,
            type=["boolean", "null"],
            title="Restore history of changed jobs",
            description="On: jobs whose content changed in this import get their history back too (it may "
            "describe an older revision of the job). Off: that history goes to the archive table.",
        ),
        "rollback_to": Param(
            None,
            type=["string", "null"],
            title="Roll back to the jobs before run",
            description="The run id of an earlier night of this DAG: this run imports the jobs the slave had "
            "before that night, as its import_jobs kept them, instead of the jobs of the master. The runs "
            "with a job archive are listed on the replication page (Browse -> DS replication, section Job archives), "
            "each with a button that starts this rollback. History is kept as on any night. Empty: "
            "the jobs of the master.",
        ),
    }


def _arguments(estate: Estate, slave: SlaveConfig) -> dict[str, dict[str, Any]]:
    """Each step's own arguments (beyond task_id, doc, timeouts, alerts and upstream results)."""
    master = DsHost.from_config("master", estate.master)
    host = DsHost.from_config("slave", slave)
    folders = [{"name": f.name, "subfolders": f.subfolders} for f in slave.folders]
    command_timeout = slave.command_timeout_minutes * 60
    alert = mail_to(slave)
    return {
        "preflight": {
            "master": master,
            "slave": host,
            "restore_changed_jobs": slave.restore_changed_jobs,
            "folders": folders,
            "alert": alert,
        },
        "export_jobs": {
            "master": master,
            "slave": host,
            "folders": folders,
            "command_timeout_seconds": command_timeout,
            "pool": estate.master.export_pool,
        },
        "wait_for_export": {"master": master},
        "copy_to_slave": {"master": master, "slave": host},
        "approve_changes": {
            "master": master,
            "slave": host,
            "folders": folders,
            "approval": slave.approval,
            "alert": alert,
            "response_timeout": dt.timedelta(minutes=slave.approval_timeout_minutes),
        },
        "backup_history": {"slave": host},
        "wait_for_backup": {"slave": host},
        "import_jobs": {"slave": host, "command_timeout_seconds": command_timeout},
        "wait_for_import": {"slave": host},
        "restore_history": {"slave": host, "restore_changed_jobs": slave.restore_changed_jobs},
        "verify_history": {"slave": host},
        "cleanup": {
            "master": master,
            "slave": host,
            "retention": slave.retention,
            "command_timeout_seconds": command_timeout,
        },
    }


def _tasks(
    estate: Estate, slave: SlaveConfig, notifier: HistoryAlertNotifier, lost: LostWorkerNotifier
) -> list[BaseOperator]:
    """The step table's operators for `slave`, each step's inputs wired from its upstream's XCom."""
    arguments = _arguments(estate, slave)
    tasks: dict[str, BaseOperator] = {}
    for step in STEPS:
        kwargs = dict(arguments[step.task_id])
        kwargs |= {name: tasks[source].output for name, source in step.takes.items()}
        kwargs["on_failure_callback"] = [notifier, record_error] if step.alerts else record_error
        if step.alerts:
            kwargs["on_retry_callback"] = lost
        if issubclass(step.operator, BaseSensorOperator):
            kwargs |= {
                "mode": "reschedule",
                "poke_interval": slave.sensor_poke_seconds,
                "timeout": slave.sensor_timeout_minutes * 60,
            }
        task = step.operator(
            task_id=step.task_id,
            doc_md=step.doc,
            execution_timeout=dt.timedelta(minutes=slave.task_minutes(step.task_id)),
            **kwargs,
        )
        tasks[step.task_id] = task.as_teardown() if step.teardown else task
    return list(tasks.values())


def description(estate: Estate, slave: SlaveConfig) -> str:
    """The DAG's one line in Airflow's DAG list."""
    folders = ", ".join(f.name for f in slave.folders)
    return f"Replicates DS jobs ({folders}) from {estate.master.name} to {slave.name}, keeping its job history"


def nightly(schedule: str | None) -> CronTriggerTimetable | None:
    """The slave's cron as a timetable whose first run is never the night just past.

    A plain cron string gives CronTriggerTimetable(run_immediately=False), which still runs the
    past night at once when the DAG is unpaused within a tenth of the interval after it (2.4 h
    for a nightly cron): an import nobody asked for. A zero buffer waits for the next night.
    """
    if schedule is None:
        return None
    from airflow import settings  # the zone Airflow gives a DAG without a start_date

    return CronTriggerTimetable(schedule, timezone=settings.TIMEZONE, run_immediately=dt.timedelta(0))


def build_dag(estate: Estate, slave: SlaveConfig) -> DAG:
    master = estate.master
    with DAG(
        dag_id=slave.dag_id,
        description=description(estate, slave),
        schedule=nightly(slave.schedule),
        # scheduled nights and manual runs only: a backfill would replay past nights' imports,
        # which makes no sense for a copy of the master's jobs as they are now (and Airflow's
        # UI then offers no Backfill)
        allowed_run_types=["scheduled", "manual"],
        # No start_date: once unpaused, a new DAG's first scheduled run is the next one due,
        # not the night just past (see nightly()).
        catchup=False,
        max_active_runs=1,
        # a run stuck (a missing pool, a hung step) would block every later night silently
        dagrun_timeout=dt.timedelta(minutes=slave.run_minutes()),
        on_failure_callback=RunTimeoutNotifier.for_slave(estate, slave),
        is_paused_upon_creation=slave.paused_on_first_deploy,
        tags=["ds-replication", f"master:{master.name}", f"slave:{slave.name}"],
        doc_md=DAG_DOC.format(
            slave=slave.name,
            master=master.name,
            folders=", ".join(f"`{f.name}`" for f in slave.folders),
            emails=", ".join(slave.alert_emails) or "nobody (no alert_emails configured)",
        ),
        default_args={
            "owner": "ds-replication",
            "retries": slave.retries,
            "retry_delay": dt.timedelta(minutes=slave.retry_delay_minutes),
            "retry_exponential_backoff": True,
            "execution_timeout": dt.timedelta(minutes=slave.task_timeout_minutes),
            # unset: Airflow's [operators] default_queue, as if the project had no queue setting
            **({"queue": slave.queue} if slave.queue is not None else {}),
        },
    ) as dag:
        alerts = HistoryAlertNotifier.for_slave(estate, slave), LostWorkerNotifier.for_slave(estate, slave)
        chain(*_tasks(estate, slave, *alerts))
    # The trigger form's params are the DAG's alone, set once its tasks exist: a task created in a
    # DAG that has params takes its own copy of them, and Airflow serializes a task's params with
    # a jsonschema check of each schema, several times over (11 tasks: ~90% of the DAG processor's
    # serialization). A task still sees them at run time: the task runner merges the DAG's params
    # into its context (airflow.sdk.definitions.param.process_params), as the scheduler and the
    # trigger form read them from the serialized DAG.
    dag.params = _params(slave)
    return dag


SURVEY_DOC = """
### Survey the estate: go or no-go per host, read-only

One task per host (master `{master}` and every slave) runs every check the slave DAGs'
preflight refuses a night with, and those it only warns about, without changing anything:
SQL Server version and edition, the history tables' keys and triggers, room in the data and
the log for tonight's copies, the recovery model, cmd over WinRM in the DS folder with its
tools, a scheduled import.bat, SMB 2 and the share, the clock. A task fails on a no-go and
names the failing checks; its result (XCom `survey`) is shown on the replication page. The
same survey from a shell: `ds-replication survey FILE`.
"""


def build_survey_dag(estate: Estate) -> DAG:
    """`survey_estate`: manual runs only, one task per host (on the slave's queue, if it has one)."""
    slaves = estate.slave_configs()
    with DAG(
        dag_id=SURVEY_DAG_ID,
        schedule=None,
        catchup=False,
        max_active_runs=1,
        # like the slave DAGs: paused when new unless every slave says otherwise
        is_paused_upon_creation=not slaves or any(s.paused_on_first_deploy for s in slaves),
        # not `ds-replication`: the replication page lists the DAGs of that tag as slaves
        tags=["ds-replication-survey", f"master:{estate.master.name}"],
        doc_md=SURVEY_DOC.format(master=estate.master.name),
        default_args={"owner": "ds-replication", "retries": 0},
    ) as dag:
        SurveyHostOperator(
            task_id=f"survey_{estate.master.name}",
            host=DsHost.from_config("master", estate.master),
            execution_timeout=dt.timedelta(seconds=2 * HOST_SECONDS),
            doc_md=f"The survey of master `{estate.master.name}`.",
        )
        for slave in slaves:
            SurveyHostOperator(
                task_id=f"survey_{slave.name}",
                host=DsHost.from_config("slave", slave),
                execution_timeout=dt.timedelta(seconds=2 * HOST_SECONDS),
                doc_md=f"The survey of slave `{slave.name}`.",
                **({"queue": slave.queue} if slave.queue is not None else {}),
            )
    return dag


def build_dags(estate: Estate | None = None) -> dict[str, DAG]:
    """Every slave's DAG and the survey's by dag_id, from `estate` or the configured estate file.

    The whole estate is always read and validated (one bad entry fails every DAG: history
    safety); when a worker parses the file to run a task, only that task's DAG is built."""
    estate = estate or load_estate()
    wanted = get_parsing_context().dag_id
    dags = {slave.dag_id: build_dag(estate, slave) for slave in estate.slave_configs(wanted)}
    if wanted in (None, SURVEY_DAG_ID):
        dags[SURVEY_DAG_ID] = build_survey_dag(estate)
    return dags
