"""The same DAGs on Airflow's distributed engine: CeleryExecutor, Redis as its broker,
PostgreSQL as Airflow's metadata database and Celery's result backend.

The test starts its own PostgreSQL (initdb in a temp directory) and Redis on free ports,
Airflow's api-server, scheduler and dag-processor, and three `airflow celery worker` processes,
each in its own process group: two consume the queue of slave1's site (`site_north`), one the
queue of slave2's (`site_south`); the estate file gives each slave its `queue`. It proves that:

- runs of both slaves, triggered together, succeed with every task on its slave's queue, run by
  a worker of that queue and by no other (which worker ran a task: its Celery task id, the task
  instance's `external_executor_id`, in that worker's log), and lose no history row;
- the approval gate (issue 20) works on Celery: slave2 has `approval: on_local_changes` (slave1
  the lab's `never`), so its first night asks about the seed's job the master lacks; answered
  Approve through Airflow's HITL REST API, the task resumes on a worker of slave2's queue and
  the night imports;
- a worker killed with SIGKILL (with everything it started) while `import_jobs` runs an aximport
  is noticed by the scheduler when the task's heartbeats stop (`[scheduler]
  task_instance_heartbeat_timeout`, 30 s here, 300 s by default), the try is failed and retried
  by the other worker of the queue, the run succeeds, no history row is lost, and exactly one
  alert reaches the lab's SMTP sink: the lost worker's (sent by the DAG processor, which runs the
  task's retry callback for a try the scheduler failed); `restore_history`, failed once in the
  same run by a dropped connection and retried by Airflow as usual, sends none.
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.airflow_server import COMPONENTS, DB_ERRORS, Airflow
from tests.e2e.conftest import SchedulerEstate, scheduler_estate
from tests.history_audit import account, snapshot
from tests.lab import faults
from tests.postgres_server import Postgres
from tests.redis_server import Redis

BACKUP = "ds_replication_event_schedule_backup"

QUEUES = {"slave1": "site_north", "slave2": "site_south"}
WORKERS = {"north_1": "site_north", "north_2": "site_north", "south": "site_south"}
# What the kill test waits out after the kill. A task heartbeats every 5 s ([workers]
# min_heartbeat_interval): 30 s is six heartbeats missed, so a busy machine's late heartbeat is
# not taken for a lost worker; the default (300 s) would only make the test wait longer.
HEARTBEAT_TIMEOUT = 30


def worker_command(name: str, queue: str) -> list[str]:
    # one task at a time, so a kill takes exactly one task; the scheduler serves no logs for
    # Celery tasks and the workers share AIRFLOW_HOME/logs, so they serve none either
    return [
        *("celery", "worker", "--queues", queue, "--concurrency", "1", "--celery-hostname", f"{name}@%h"),
        *("--skip-serve-logs", "--without-gossip", "--without-mingle"),
    ]


# slave2 asks before importing over jobs the master lacks; slave1 keeps the lab's `never`
ASKS = "slave2"
NOT_ON_MASTER = "[I] Adobe FlashPlayer v9.0.124 Install"  # the seed's slaves have it, the master not


def site_queues(config: dict) -> None:
    for slave in config["slaves"]:
        slave["queue"] = QUEUES[slave["name"]]
        if slave["name"] == ASKS:
            slave["approval"] = "on_local_changes"


class CeleryEstate(SchedulerEstate):
    """A DS lab with two slaves on two sites, PostgreSQL, Redis and an Airflow on Celery."""

    def __init__(self, root: Path) -> None:
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        components = {**COMPONENTS, **{f"worker-{n}": worker_command(n, q) for n, q in WORKERS.items()}}
        # Each worker's pool (billiard) makes a multiprocessing temp dir, pymp-*, that the worker
        # removes as it exits: the one the kill test kills cannot. Under the estate's root, the
        # module's end removes it with the rest (in /tmp it was left by every suite).
        self.tmp = root / "tmp"
        self.tmp.mkdir()
        super().__init__(
            root,
            slaves=len(QUEUES),
            configure=site_queues,
            components=components,
            extra_env={"TMPDIR": str(self.tmp)},
            sign_in=True,
        )

    def _start_services(self) -> dict[str, str]:
        self.postgres = Postgres().start()
        self.redis = Redis().start()
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url(),
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url(),
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.postgres.url()}",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        }

    def _stop_services(self) -> None:
        for service in (self.redis, self.postgres):
            if service:
                service.stop()

    def worker_of(self, celery_task_id: str) -> str:
        """The worker whose log names the Celery task (a task instance's external_executor_id)."""
        found = [name for name in WORKERS if celery_task_id in self.airflow.log_text(f"worker-{name}")]
        assert len(found) == 1, (celery_task_id, found)
        return found[0]


@pytest.fixture(scope="module")
def celery_estate(request):
    return scheduler_estate(request, CeleryEstate)


def task_instances(airflow: Airflow, run_id: str) -> dict[str, dict]:
    rows = airflow.query(
        "SELECT id, task_id, state, try_number, queue, external_executor_id FROM task_instance WHERE run_id = ?",
        run_id,
    )
    return {row["task_id"]: row for row in rows}


def celery_results(airflow: Airflow, celery_task_ids: list[str]) -> list[str]:
    """The states Celery's result backend holds for the tasks, once none is still STARTED (a
    worker writes SUCCESS after the task instance has reported its own end)."""
    marks = ", ".join("?" for _ in celery_task_ids)
    deadline = time.monotonic() + 120
    while True:
        rows = airflow.query(f"SELECT status FROM celery_taskmeta WHERE task_id IN ({marks})", *celery_task_ids)
        states = sorted(row["status"] for row in rows)
        if "STARTED" not in states or time.monotonic() > deadline:
            return states
        time.sleep(1)


def approve_on_celery(estate: CeleryEstate, run_id: str, timeout: float = 300) -> None:
    """Wait for ASKS's question, then answer Approve through the HITL REST API (what Required
    actions calls), once the scheduler has seen the asking process end (Airflow 3.3's race:
    docs/change-control.md)."""
    airflow, dag_id = estate.airflow, f"replicate_{ASKS}"
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        with contextlib.suppress(*DB_ERRORS):
            ti = airflow.task_instances(run_id).get("approve_changes")
            if ti is not None and ti["state"] == "awaiting_input":
                break
            assert ti is None or ti["state"] not in ("success", "skipped", "failed"), airflow.describe([run_id])
        assert time.monotonic() < deadline, f"no question within {timeout}s\n{airflow.describe([run_id])}"
        time.sleep(1)
    airflow.wait_worker_reported(dag_id, run_id, "approve_changes")
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approve_changes/-1/hitlDetails"
    question = airflow.rest("GET", path, estate.token)
    assert f"| {NOT_ON_MASTER} | Global | not on the master" in question["body"], question
    body = {"chosen_options": ["Approve"], "params_input": {}}
    airflow.rest("PATCH", path, estate.token, body)


def test_each_slaves_tasks_run_on_the_workers_of_its_queue(celery_estate):
    airflow, lab = celery_estate.airflow, celery_estate.lab
    before = {slave: snapshot(lab, slave) for slave in QUEUES}
    run_ids = {slave: f"celery_{slave}" for slave in QUEUES}
    airflow.cli_together(*(["dags", "trigger", f"replicate_{s}", "--run-id", run_ids[s]] for s in QUEUES))
    approve_on_celery(celery_estate, run_ids[ASKS])
    runs = airflow.wait_finished(list(run_ids.values()))

    ran_on: dict[str, set[str]] = {}
    for slave, run_id in run_ids.items():
        assert runs[run_id]["state"] == "success", airflow.describe([run_id])
        tis = task_instances(airflow, run_id)
        assert {ti["state"] for ti in tis.values()} == {"success"}, airflow.describe([run_id])
        assert {ti["queue"] for ti in tis.values()} == {QUEUES[slave]}, {t: ti["queue"] for t, ti in tis.items()}
        ran_on[slave] = {celery_estate.worker_of(ti["external_executor_id"]) for ti in tis.values()}
        assert {WORKERS[worker] for worker in ran_on[slave]} == {QUEUES[slave]}, (slave, ran_on[slave])
        # Celery's own record of each task, in its result backend on PostgreSQL
        ids = [ti["external_executor_id"] for ti in tis.values()]
        assert celery_results(airflow, ids) == ["SUCCESS"] * len(ids)
    print(f"\nworkers by slave: {ran_on}")
    # slave2 asked and was approved: its approve_changes resumed on a worker of its queue (checked
    # above with every task) and took the answer; slave1 (`never`) asked nothing
    answers = {
        slave: airflow.rest(
            "GET",
            f"/api/v2/dags/replicate_{slave}/dagRuns/{run_id}/taskInstances/approve_changes/xcomEntries/return_value",
            celery_estate.token,
        )["value"]
        for slave, run_id in run_ids.items()
    }
    assert answers["slave1"] == {"asked": False, "why": "approval: never"}, answers
    assert answers[ASKS]["approved"] is True and answers[ASKS]["answered_by"] == "admin", answers
    assert NOT_ON_MASTER not in {r["name"] for r in lab.sql(ASKS, "SELECT name FROM event")}  # imported

    for slave in QUEUES:
        audit = account(before[slave], snapshot(lab, slave))
        assert audit.before > 0
        assert (audit.lost, audit.detail_lost, audit.held) == (0, 0, 0), (slave, audit)


def _running_task_process(ti_id: str) -> psutil.Process | None:
    """The task process of a task instance: the SDK titles it `airflow worker -- <ti id>`."""
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(ti_id in part for part in proc.info["cmdline"] or ()):
                return proc
    return None


def _kill_worker_of(estate: CeleryEstate, task_process: psutil.Process) -> str:
    """SIGKILL to the worker that runs `task_process` and to everything it started, at once (a
    machine lost: no process of it gets to tell anyone)."""
    for name in WORKERS:
        leader = estate.airflow.procs[f"worker-{name}"]
        worker = psutil.Process(leader.pid)
        family = [worker, *worker.children(recursive=True)]
        if task_process.pid in {p.pid for p in family}:
            for proc in family:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGKILL)
            _, alive = psutil.wait_procs(family, timeout=30)  # reaps the leader too
            assert not alive, alive
            del estate.airflow.procs[f"worker-{name}"]  # gone on purpose: no longer watched or stopped
            return name
    raise AssertionError(f"task process {task_process.pid} belongs to no worker")


def test_a_worker_killed_during_import_jobs_is_replaced_by_another_of_its_queue(celery_estate):
    airflow, lab = celery_estate.airflow, celery_estate.lab
    slave = "slave1"
    before = snapshot(lab, slave)
    mails_before = len(lab.mail())
    run_id = f"kill_{slave}"
    # the first aximport runs 8 s before it imports: the window in which the worker is killed
    lab.fault(slave, "aximport_slow", times=1, match="aximport")
    airflow.cli("dags", "trigger", f"replicate_{slave}", "--run-id", run_id)

    task_process = None
    deadline = time.monotonic() + 600
    while task_process is None and time.monotonic() < deadline:
        airflow.check_alive()
        with contextlib.suppress(*DB_ERRORS):
            ti = task_instances(airflow, run_id).get("import_jobs")
            if ti and ti["state"] == "running" and not faults.armed(lab.dir, slave):  # aximport has started
                task_process = _running_task_process(str(ti["id"]))
            elif ti and ti["state"] in ("success", "failed", "up_for_retry"):
                break  # the window was missed: said below, with the run's state
        time.sleep(0.5)
    assert task_process is not None, airflow.describe([run_id])
    first = task_instances(airflow, run_id)["import_jobs"]
    killed = _kill_worker_of(celery_estate, task_process)
    assert celery_estate.worker_of(first["external_executor_id"]) == killed
    # the workers' multiprocessing temp dirs, the killed one's among them, are where the module's end removes them
    assert list(celery_estate.tmp.glob("pymp-*")), "the workers' multiprocessing temp dirs are not under the root"
    # an ordinary retry in the same run: restore_history's first try loses its SQL connection at
    # COMMIT (armed now: the loop above waits for the aximport fault to be used up)
    lab.fault(slave, "sql_drop_before_commit", times=1, match="INSERT INTO [dbo].[event_schedule] (")

    runs = airflow.wait_finished([run_id])
    assert runs[run_id]["state"] == "success", airflow.describe([run_id])
    ti = task_instances(airflow, run_id)["import_jobs"]
    assert ti["try_number"] == 2, dict(ti)
    (lost_try,) = airflow.query(
        "SELECT try_number, state, external_executor_id FROM task_instance_history "
        "WHERE run_id = ? AND task_id = 'import_jobs'",
        run_id,
    )
    assert (lost_try["try_number"], lost_try["state"]) == (1, "failed"), dict(lost_try)
    assert airflow.query(
        "SELECT 1 FROM log WHERE event = 'heartbeat timeout' AND run_id = ? AND task_id = 'import_jobs'", run_id
    )
    retried_on = celery_estate.worker_of(ti["external_executor_id"])
    assert retried_on != killed and WORKERS[retried_on] == QUEUES[slave], (killed, retried_on)

    restore = airflow.query(
        "SELECT try_number, state FROM task_instance_history WHERE run_id = ? AND task_id = 'restore_history'",
        run_id,
    )
    assert [(r["try_number"], r["state"]) for r in restore] == [(1, "failed")], restore  # the ordinary retry

    audit = account(before, snapshot(lab, slave))
    assert audit.before > 0
    assert (audit.lost, audit.detail_lost, audit.held) == (0, 0, 0), audit
    # One alert: the lost worker's, from import_jobs' retry callback run by the DAG processor;
    # restore_history's ordinary retry (its callback runs in the task, with the exception) sends none
    mails = [m for m in lab.mail()[mails_before:] if slave in m["subject"]]
    assert [m["subject"] for m in mails if "worker lost" in m["subject"]] == [m["subject"] for m in mails], mails
    assert len(mails) == 1, [m["subject"] for m in mails]
    (alert,) = mails
    assert "worker lost during import_jobs (try 1 of 2)" in alert["subject"], alert["subject"]
    assert "history rows held" in alert["subject"], alert["subject"]
    body = alert["body"].lower()
    for said in ("try 2 of 2", BACKUP, "nothing needs doing", "replication page"):
        assert said in body, (said, body)
    print(f"\nimport_jobs: try 1 on {killed} (killed), try 2 on {retried_on}; one alert: {alert['subject']}")
