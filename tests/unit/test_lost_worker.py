"""The lost worker's alert speaks only for a try lost with its worker, never for an ordinary retry.

Both contexts are the ones Airflow 3.3 builds itself, recorded by a retry callback: the DAG
processor's (`_execute_task_callbacks`, fed the request the scheduler sends when a task's
heartbeats stop) and the task runner's (a real try that raises, run by `dag.test()`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

DAG_ID, TASK_ID = "lost_or_not", "step"

DAG_FILE = f'''
import datetime as dt

from airflow.sdk import DAG, task

CONTEXTS = []


def record(context):
    CONTEXTS.append(dict(context))


with DAG("{DAG_ID}", schedule=None, default_args={{"retries": 1, "retry_delay": dt.timedelta(0)}}):

    @task(on_retry_callback=record, queue="site_north")
    def {TASK_ID}(ti=None):
        if ti.try_number == 1:
            raise RuntimeError("an exception in the task")

    {TASK_ID}()
'''


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    """The test DAG, in the dags folder of this process's Airflow (dag.test() syncs the DAGs of
    its bundle, `dags-folder`, whose path is `settings.DAGS_FOLDER`)."""
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path_factory.mktemp("dags")
    (folder / "lost_or_not.py").write_text(textwrap.dedent(DAG_FILE))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "DAGS_FOLDER", str(folder))
        bag = DagBag(dag_folder=str(folder))
        assert bag.import_errors == {}
        yield bag


def recorded(bag) -> list[dict]:
    return bag.dags[DAG_ID].get_task(TASK_ID).on_retry_callback[0].__globals__["CONTEXTS"]


@pytest.fixture(scope="module")
def processor_context(dagbag):
    """The context of the retry callback the DAG processor runs for a try the scheduler failed
    when its heartbeats stopped (scheduler_job_runner `_purge_task_instances_without_heartbeats`)."""
    import structlog
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import DagRun, TaskInstance, TIRunContext
    from airflow.callbacks.callback_requests import TaskCallbackRequest
    from airflow.dag_processing.processor import _execute_task_callbacks
    from airflow.sdk.timezone import utcnow
    from airflow.utils.state import TaskInstanceState

    now = utcnow()
    run = DagRun(
        dag_id=DAG_ID,
        run_id="manual__lost",
        logical_date=now,
        data_interval_start=now,
        data_interval_end=now,
        run_after=now,
        start_date=now,
        end_date=None,
        partition_key=None,
        run_type="manual",
        state="running",
        consumed_asset_events=[],
    )
    request = TaskCallbackRequest(
        filepath="lost_or_not.py",
        bundle_name="dags-folder",
        bundle_version=None,
        ti=TaskInstance(
            id=uuid.uuid4(),
            task_id=TASK_ID,
            dag_id=DAG_ID,
            run_id=run.run_id,
            try_number=1,
            dag_version_id=uuid.uuid4(),
            hostname="worker-north-1",
            queue="site_north",
        ),
        msg="{'DAG Id': 'lost_or_not', 'Task Id': 'step', 'Run Id': 'manual__lost', 'Hostname': 'worker-north-1'}",
        task_callback_type=TaskInstanceState.UP_FOR_RETRY,
        context_from_server=TIRunContext(dag_run=run, max_tries=1, variables=[], connections=[], xcom_keys_to_clear=[]),
    )
    before = len(recorded(dagbag))
    _execute_task_callbacks(dagbag, request, structlog.get_logger())
    contexts = recorded(dagbag)[before:]
    assert len(contexts) == 1, contexts
    return contexts[0]


@pytest.fixture(scope="module")
def task_context(dagbag):
    """The context of the retry callback the task runner runs after the task raised."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=os.environ,
        check=True,
        capture_output=True,
        timeout=600,
    )
    dag = dagbag.dags[DAG_ID]
    before = len(recorded(dagbag))
    run = dag.test()
    assert str(run.state) == "success", run.state  # try 2 passed
    contexts = recorded(dagbag)[before:]
    assert len(contexts) == 1, contexts  # one retry: try 1's
    return contexts[0]


def test_a_try_failed_by_the_scheduler_is_lost(processor_context):
    from ds_replication.notifications.lost_worker import was_lost

    assert was_lost(processor_context)
    assert processor_context["ti"].try_number == 1


def test_an_exception_in_the_task_is_an_ordinary_retry(task_context):
    from ds_replication.notifications.lost_worker import was_lost

    assert isinstance(task_context["exception"], RuntimeError)
    assert not was_lost(task_context)


def test_the_mail_says_which_try_was_lost_and_what_is_held(processor_context):
    from ds_replication.notifications.lost_worker import lost_worker_mail

    subject, lines = lost_worker_mail(
        slave_name="slave1",
        database="express",
        mssql_conn_id="slave1_mssql",
        context=processor_context,
        held=42,
        base="http://airflow.example:8080",
    )
    assert subject == (
        "[DS replication] slave1: worker lost during step (try 1 of 2), Airflow retries it; 42 history rows held"
    )
    text = "\n".join(lines)
    for said in (
        "host worker-north-1, queue site_north",
        "retries the step (try 2 of 2)",
        "ds_replication_event_schedule_backup on the slave: 42",
        "http://airflow.example:8080/dags/lost_or_not/runs/manual__lost",
        "http://airflow.example:8080/ds-replication/",
        "Nothing needs doing unless the run then fails",
    ):
        assert said in text, (said, text)


def test_an_ordinary_retry_sends_no_mail(task_context):
    """No SMTP connection exists here: a notifier that tried to send would raise."""
    from ds_replication.notifications.lost_worker import LostWorkerNotifier

    notifier = LostWorkerNotifier(
        slave_name="slave1",
        mssql_conn_id="no_such_mssql",
        database="express",
        to=["ds-admins@example.com"],
        smtp_conn_id="no_such_smtp",
        from_email="airflow@example.com",
    )
    notifier.notify(task_context)


def test_every_step_that_changes_the_slave_has_the_lost_worker_callback(tmp_path, monkeypatch):
    from ds_replication.factory import ALERTING_TASKS, build_dags
    from ds_replication.notifications.lost_worker import LostWorkerNotifier

    config = Path(__file__).resolve().parents[2] / "include" / "config" / "replication.yaml"
    monkeypatch.setenv("DS_REPLICATION_CONFIG", str(config))
    for dag in build_dags().values():
        for task in dag.tasks:
            lost = [c for c in task.on_retry_callback or [] if isinstance(c, LostWorkerNotifier)]
            assert len(lost) == (1 if task.task_id in ALERTING_TASKS else 0), task.task_id


def test_a_lost_try_is_alerted_once(processor_context):
    """Airflow 3.3 runs a lost try's retry callback twice (two callback requests): the second
    finds the try among those alerted and sends nothing."""
    from ds_replication.notifications.lost_worker import ALERTED_KEPT, remembered, try_key

    key = try_key(processor_context["ti"])
    assert key == f"{DAG_ID} manual__lost {TASK_ID} try 1"
    kept = remembered([], key)
    assert kept == [key]
    assert remembered(kept, key) is None
    later = f"{DAG_ID} manual__lost {TASK_ID} try 2"
    assert remembered(kept, later) == [key, later]
    older = [f"{DAG_ID} run_{n} {TASK_ID} try 1" for n in range(ALERTED_KEPT)]
    assert remembered(older, key) == [*older[1:], key]  # the newest are kept
    assert remembered("not a list", key) == [key]


def test_the_failure_alert_of_a_lost_last_try_says_no_error_was_raised(processor_context, task_context):
    from ds_replication.notifications.history_alert import error_text

    assert error_text(task_context) == "RuntimeError: an exception in the task"
    assert error_text(processor_context).startswith("none raised in the task: Airflow failed the try from outside")
