"""Concurrent runs under a real Airflow scheduler (LocalExecutor), not `dag.test()`.

The test starts Airflow's api-server, scheduler and dag-processor as its own subprocesses,
each in its own process group, on a private AIRFLOW_HOME and SQLite metadata DB (Airflow 3
accepts LocalExecutor on SQLite; `airflow standalone` runs the same components on it), and a
DS lab with a master and two slaves. It proves that:

- runs of two slaves against one master, triggered together, both succeed, overlap in time,
  lose no history row, and run their `export_jobs` one at a time through the master's
  one-slot export pool (`ds_export_<master>`);
- a second run of a slave triggered while its first is active waits (`max_active_runs=1`):
  it starts only after the first has ended, and succeeds too.

Times come from the metadata DB (task_instance, dag_run), read-only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time

import pytest

from tests.airflow_server import Airflow, parse_time
from tests.e2e.conftest import scheduler_estate
from tests.history_audit import account, snapshot

SLAVES = ("slave1", "slave2")


def one_export_slot(config: dict) -> None:
    config["master"]["export_slots"] = 1


@pytest.fixture(scope="module")
def sched(request):
    """A DS lab with two slaves, and an Airflow with a scheduler replicating it; the master's
    export pool has one slot."""
    return scheduler_estate(request, slaves=len(SLAVES), configure=one_export_slot)


def assert_succeeded(airflow: Airflow, runs: dict[str, sqlite3.Row]) -> None:
    for run_id, run in runs.items():
        assert run["run_type"] == "manual", run_id
        assert run["state"] == "success", airflow.describe(list(runs))
        states = {t: ti["state"] for t, ti in airflow.task_instances(run_id).items()}
        assert set(states.values()) == {"success"}, (run_id, states)


def interval(row: sqlite3.Row) -> tuple[dt.datetime, dt.datetime]:
    start, end = parse_time(row["start_date"]), parse_time(row["end_date"])
    assert start and end and start <= end, dict(row)
    return start, end


def test_two_slaves_run_concurrently_and_exports_share_the_pool(sched):
    airflow, lab = sched.airflow, sched.lab
    before = {slave: snapshot(lab, slave) for slave in SLAVES}
    run_ids = {slave: f"concurrent_{slave}" for slave in SLAVES}
    airflow.cli_together(*(["dags", "trigger", f"replicate_{s}", "--run-id", run_ids[s]] for s in SLAVES))
    runs = airflow.wait_finished(list(run_ids.values()))
    assert_succeeded(airflow, runs)
    assert not airflow.query("SELECT run_id FROM dag_run WHERE run_type != 'manual'")  # schedule: null

    # both runs were active at the same time
    (start1, end1), (start2, end2) = (interval(runs[run_ids[s]]) for s in SLAVES)
    assert max(start1, start2) < min(end1, end2), f"runs did not overlap: {start1}..{end1}, {start2}..{end2}"

    # the exports went through the master's pool, one at a time (1 slot)
    tis = {s: airflow.task_instances(run_ids[s]) for s in SLAVES}
    exports = [tis[s]["export_jobs"] for s in SLAVES]
    assert {ti["pool"] for ti in exports} == {sched.pool}
    assert all(ti["try_number"] == 1 for ti in exports), [dict(ti) for ti in exports]
    (a_start, a_end), (b_start, b_end) = sorted(interval(ti) for ti in exports)
    assert a_end <= b_start, f"export_jobs overlapped: {a_start}..{a_end} and {b_start}..{b_end}"
    # evidence, not asserted (it depends on timing): the later export was scheduled (ready to run)
    # before the slot was free, and the scheduler held it back for the pool
    later = next(tis[s]["export_jobs"] for s in SLAVES if interval(tis[s]["export_jobs"])[0] == b_start)
    ready = parse_time(later["scheduled_dttm"])
    refusals = airflow.log_text("scheduler").count(f"open slots in pool {sched.pool}")
    print(
        f"\nruns: {start1}..{end1} | {start2}..{end2}\n"
        f"export_jobs: {a_start}..{a_end} then {b_start}..{b_end} (gap {(b_start - a_end).total_seconds():.2f}s)\n"
        f"later export scheduled {ready}, queued {later['queued_dttm']} "
        f"({(a_end - ready).total_seconds():.2f}s before the slot was free); "
        f"scheduler logged 0 open slots in {sched.pool} {refusals} time(s)"
    )

    for slave in SLAVES:
        audit = account(before[slave], snapshot(lab, slave))
        assert audit.before > 0
        assert (audit.lost, audit.detail_lost, audit.held) == (0, 0, 0), (slave, audit)


def test_second_run_of_a_slave_waits_for_the_first(sched):
    airflow, lab = sched.airflow, sched.lab
    slave = SLAVES[0]
    before = snapshot(lab, slave)
    # both triggered at the same moment: triggered one after the other, a loaded machine ran the
    # whole first run while the second `airflow dags trigger` was still starting (its queued_at
    # came after the first run's end). Which run goes first is the scheduler's to choose.
    both = [f"a_{slave}", f"b_{slave}"]
    airflow.cli_together(*(["dags", "trigger", f"replicate_{slave}", "--run-id", run_id] for run_id in both))

    # while one is active the other is queued, with no task started (when the poll sees one still
    # running; the times below prove the wait either way)
    deadline = time.monotonic() + 60
    seen_waiting = False
    while time.monotonic() < deadline and not seen_waiting:
        with contextlib.suppress(sqlite3.OperationalError):
            runs = airflow.runs(both)
            running = [run_id for run_id in both if run_id in runs and runs[run_id]["state"] == "running"]
            assert len(running) < 2, {run_id: dict(run) for run_id, run in runs.items()}  # max_active_runs=1
            if len(runs) < 2 or not running:
                if any(runs[run_id]["state"] in ("success", "failed") for run_id in runs):
                    break
                time.sleep(1)
                continue
            (other,) = set(both) - set(running)
            assert runs[other]["state"] == "queued", dict(runs[other])
            assert not [t for t, ti in airflow.task_instances(other).items() if ti["start_date"]]
            seen_waiting = True
        time.sleep(1)

    runs = airflow.wait_finished(both)
    assert_succeeded(airflow, runs)
    first, second = sorted(both, key=lambda run_id: interval(runs[run_id])[0])
    (start1, end1), (start2, end2) = interval(runs[first]), interval(runs[second])
    assert end1 <= start2, f"runs of {slave} overlapped: {start1}..{end1} and {start2}..{end2}"
    assert parse_time(runs[second]["queued_at"]) < end1  # it was waiting while the first ran
    started = [parse_time(ti["start_date"]) for ti in airflow.task_instances(second).values()]
    assert all(moment >= end1 for moment in started), f"a task of {second} started before {first} ended"
    print(
        f"\n{first}: {start1}..{end1}\n{second}: queued {runs[second]['queued_at']}, {start2}..{end2} "
        f"(started {(start2 - end1).total_seconds():.2f}s after the first ended)"
    )

    audit = account(before, snapshot(lab, slave))
    assert audit.before > 0
    assert (audit.lost, audit.detail_lost, audit.held) == (0, 0, 0), audit
