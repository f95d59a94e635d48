"""The master changes between two runs, end to end on the DS lab (real Airflow, `dag.test()`):
a job added, one removed, one edited through SQL. The slave follows, the removed job's history is
archived and its definition kept in the slave's archive export, the edited job's history stays
live and the job is reported as changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import _estate
from tests.e2e.scenario_checks import (
    SLAVE,
    assert_nothing_lost,
    assert_run_tables_gone,
    assert_succeeded,
    history_of,
    job_rows,
    parts,
    run_and_audit,
    why,
)
from tests.history_audit import jobs_in_folders, slave_folders, snapshot
from tests.lab import seed
from tests.lab.ax_tools import read_export

ADDED_JOB = 2020590  # into Global\Software, with one install task
REMOVED_JOB = 2020547  # [I] Adobe AIR Runtime, Global\Software
EDITED_JOB = 2020570  # [D] Chipset drivers, Drivers: new name and new task
EDITED_NAME = "[D] Chipset drivers 9.1"
EDITED_PACKAGE = "chipset-9.1.exe /quiet"
MASTER_CHANGES = (
    "INSERT INTO event (event_id, folder_id, name, description, modified) "
    f"VALUES ({ADDED_JOB}, 1002, N'[I] Notepad++ 5.4 Install', N'added between runs', '2026-11-02 09:00:00.000'); "
    "INSERT INTO install_task (task_id, event_id, seq, package, arguments) "
    f"VALUES ({ADDED_JOB * 10 + 1}, {ADDED_JOB}, 1, N'npp.5.4.installer.exe /S', NULL)",
    f"DELETE FROM event WHERE event_id = {REMOVED_JOB}",
    f"UPDATE event SET name = N'{EDITED_NAME}', modified = '2026-11-02 09:05:00.000' WHERE event_id = {EDITED_JOB}; "
    f"UPDATE install_task SET package = N'{EDITED_PACKAGE}' WHERE event_id = {EDITED_JOB}",
)


@pytest.fixture(scope="module")
def changes_estate(request):
    return _estate(request, slaves=1, identity=False)


@pytest.fixture(scope="module")
def changed_master_night(changes_estate):
    """A first run, the master changed through SQL, then the run under test."""
    lab = changes_estate.lab
    first = changes_estate.run(SLAVE)
    assert_succeeded(first)
    slave_jobs = snapshot(lab, SLAVE).jobs
    assert REMOVED_JOB in slave_jobs and EDITED_JOB in slave_jobs and ADDED_JOB not in slave_jobs
    for batch in MASTER_CHANGES:
        lab.sql("master", batch)
    master = job_rows(lab, "master", {ADDED_JOB, REMOVED_JOB, EDITED_JOB})
    assert {r["event_id"] for r in master["event"]} == {ADDED_JOB, EDITED_JOB}, master
    return run_and_audit(changes_estate)


def test_changed_master_run_succeeds_and_loses_nothing(changed_master_night):
    assert_succeeded(changed_master_night["result"])
    assert_nothing_lost(changed_master_night)
    assert_run_tables_gone(changed_master_night)


def test_changed_master_slave_matches_master(changes_estate, changed_master_night):
    lab, result = changes_estate.lab, changed_master_night["result"]
    folders = slave_folders(changes_estate.config_path, SLAVE)
    master_jobs = jobs_in_folders(lab, "master", folders)
    slave_jobs = jobs_in_folders(lab, SLAVE, folders)
    assert slave_jobs == master_jobs, why(result, "slave - master", slave_jobs - master_jobs, master_jobs - slave_jobs)
    assert job_rows(lab, SLAVE, slave_jobs) == job_rows(lab, "master", master_jobs), why(result)


def test_changed_master_added_job_is_on_the_slave(changes_estate, changed_master_night):
    lab, result = changes_estate.lab, changed_master_night["result"]
    on_slave = job_rows(lab, SLAVE, {ADDED_JOB})
    assert [r["event_id"] for r in on_slave["event"]] == [ADDED_JOB], why(result, on_slave)
    assert on_slave == job_rows(lab, "master", {ADDED_JOB}), why(result, on_slave)
    assert [r["package"] for r in on_slave["install_task"]] == ["npp.5.4.installer.exe /S"], why(result, on_slave)


def test_changed_master_removed_job_gone_and_its_history_archived(changed_master_night):
    before, after, result = parts(changed_master_night)
    assert REMOVED_JOB not in after.jobs, why(result, after.jobs.get(REMOVED_JOB))
    history = history_of(before, {REMOVED_JOB})
    assert history, "the seed gives the removed job history on the slave"
    for key, row in history.items():
        assert key not in after.schedule, why(result, "removed job's row still live", key)
        assert after.archive.get(key) == row, why(result, "removed job's row not archived", key, row)
    for key, row in before.info.items():
        if (row["schedule_id"],) in history:
            assert key not in after.info and after.info_archive.get(key) == row, why(result, key, row)
    x = result["xcom"]
    assert x["restore_history"]["job_gone_rows"] == len(history), why(result, x["restore_history"])
    assert x["verify_history"]["archived_rows"] == len(history), why(result, x["verify_history"])
    assert x["verify_history"]["lost_rows"] == 0, why(result, x["verify_history"])


def test_changed_master_removed_job_is_kept_in_the_slaves_archive(changes_estate, changed_master_night):
    """The import deleted the job from the slave for good, but import_jobs exported it first."""
    result, before = changed_master_night["result"], changed_master_night["jobs_before"]
    share = Path(changes_estate.lab.info["hosts"][SLAVE]["share_dir"])
    exports = [
        read_export(share / entry["file"].replace("\\", "/"))
        for entry in result["xcom"]["import_jobs"]["archive"].values()
    ]
    assert None not in exports, why(result, result["xcom"]["import_jobs"])
    kept = [job["name"] for export in exports for job in export["jobs"] if job["event_id"] == REMOVED_JOB]
    assert kept == [r["name"] for r in before["event"] if r["event_id"] == REMOVED_JOB], why(result, kept)
    kept_tasks = [t["package"] for e in exports for t in e["tables"]["install_task"] if t["event_id"] == REMOVED_JOB]
    tasks_before = [t["package"] for t in before["install_task"] if t["event_id"] == REMOVED_JOB]
    assert kept_tasks == tasks_before and tasks_before, why(result, kept_tasks, tasks_before)


def test_changed_master_edited_job_updated_history_live_and_reported(changes_estate, changed_master_night):
    lab = changes_estate.lab
    before, after, result = parts(changed_master_night)
    on_slave = job_rows(lab, SLAVE, {EDITED_JOB})
    assert [r["name"] for r in on_slave["event"]] == [EDITED_NAME], why(result, on_slave)
    assert [r["package"] for r in on_slave["install_task"]] == [EDITED_PACKAGE], why(result, on_slave)
    history = history_of(before, {EDITED_JOB})
    assert history, "the seed gives the edited job history on the slave"
    assert {k: after.schedule.get(k) for k in history} == history, why(result, "edited job's history not live")
    assert not set(history) & set(after.archive), why(result, "edited job's history archived")
    restore = result["xcom"]["restore_history"]
    # only this job's content changed since the first run
    assert restore["changed_event_ids"] == [EDITED_JOB], why(result, restore)
    assert restore["changed_jobs"] == 1 and restore["changed_job_names"] == [EDITED_NAME], why(result, restore)


def test_changed_master_everything_else_untouched(changed_master_night):
    before, after, result = parts(changed_master_night)
    others = {k: r for k, r in before.schedule.items() if r["event_id"] != REMOVED_JOB}
    assert {k: after.schedule.get(k) for k in others} == others, why(result)
    new_archive = set(after.archive) - set(before.archive)
    assert new_archive == set(history_of(before, {REMOVED_JOB})), why(result, sorted(new_archive))
    local = {i: r for i, r in before.jobs.items() if r["folder_id"] == seed.LOCAL_FOLDER[0]}
    assert local and {i: after.jobs.get(i) for i in local} == local, why(result)
