"""Manual runs with Params, and a failed night, end to end on the DS lab (real Airflow, `dag.test()`).

- A dry run of one folder changes nothing on the slave and leaves no file behind; a run of one
  folder replicates only that folder; `restore_changed_jobs: false` archives the history of an
  edited job instead of restoring it.
- A night whose import crashed twice holds the history in the backup; a manual run of one
  folder then refuses to start (the other folders' jobs may still be missing), and the next
  full run puts every row back.

The runs are module-scoped fixtures chained so that a test selected alone still sees the runs
before it; sections share one lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from ds_replication.run_files import run_key
from tests.e2e.conftest import _estate
from tests.e2e.scenario_checks import (
    SLAVE,
    SLAVE_CHANGING_TASKS,
    TASKS,
    assert_nothing_lost,
    assert_run_tables_gone,
    assert_succeeded,
    folder,
    history_of,
    job_rows,
    parts,
    run_and_audit,
    run_files_left,
    states,
    why,
)
from tests.history_audit import account, jobs_in_folders
from tests.lab import faults, seed
from tests.lab.ax_tools import read_export

# --- 3. manual runs with Params -------------------------------------------------------------


@pytest.fixture(scope="module")
def manual_estate(request):
    # the estate file never changes here: the nights share one dag.test() process (conftest.Estate)
    return _estate(request, slaves=1, identity=False, one_process=True)


@pytest.fixture(scope="module")
def dry_run(manual_estate):
    """A dry run of Global on the freshly seeded lab (the master has pending changes there)."""
    return run_and_audit(manual_estate, {"folders": ["Global"], "dry_run": True})


@pytest.fixture(scope="module")
def drivers_run(manual_estate, dry_run):
    return run_and_audit(manual_estate, {"folders": ["Drivers"]})


@pytest.fixture(scope="module")
def held_back_run(manual_estate, drivers_run):
    """All folders with `restore_changed_jobs: false`: the seed edited Firefox on the master."""
    return run_and_audit(manual_estate, {"restore_changed_jobs": False})


def test_dry_run_exports_and_copies_only_the_folder_asked(manual_estate, dry_run):
    result = dry_run["result"]
    assert result["state"] == "success", why(result)
    done = {t: s for t, s in states(result).items() if t not in SLAVE_CHANGING_TASKS}
    assert done == dict.fromkeys(done, "success") and set(done) == set(TASKS) - set(SLAVE_CHANGING_TASKS), why(result)
    export = result["xcom"]["export_jobs"]
    assert export["folders"] == [folder(manual_estate, "Global")], why(result, export)
    assert len(export["files"]) == 1, why(result, export)
    expected = len(jobs_in_folders(manual_estate.lab, "master", [folder(manual_estate, "Global")]))
    assert export["master_jobs"] == {"Global": expected}, why(result, export)
    copied = result["xcom"]["copy_to_slave"]
    assert set(copied["files"]) == set(export["files"]), why(result, copied)
    assert copied["bytes"] == sum(f["bytes"] for f in copied["files"].values()) > 0, why(result, copied)


def test_dry_run_skips_every_step_that_changes_the_slave(dry_run):
    result = dry_run["result"]
    skipped = {t: states(result).get(t) for t in SLAVE_CHANGING_TASKS}
    assert skipped == dict.fromkeys(SLAVE_CHANGING_TASKS, "skipped"), why(result)
    assert not set(SLAVE_CHANGING_TASKS) & set(result["xcom"]), why(result, sorted(result["xcom"]))


def test_dry_run_changes_nothing_on_the_slave(dry_run):
    before, after, result = parts(dry_run)
    assert after.schedule == before.schedule and after.info == before.info, why(result, account(before, after))
    assert after.jobs == before.jobs and dry_run["jobs_after"] == dry_run["jobs_before"], why(result)
    assert after.archive == before.archive and after.tables == before.tables, why(result, after.tables)
    assert_run_tables_gone(dry_run)


def test_dry_run_cleans_the_shares(manual_estate, dry_run):
    result = dry_run["result"]
    assert run_files_left(manual_estate.lab) == {}, why(result)
    removed = result["xcom"]["cleanup"]
    assert removed["slave"] == result["xcom"]["export_jobs"]["files"], why(result, removed)
    assert removed["master"] == result["xcom"]["export_jobs"]["files"], why(result, removed)


def test_one_folder_run_replicates_only_that_folder(manual_estate, drivers_run):
    lab, result = manual_estate.lab, drivers_run["result"]
    assert_succeeded(result)
    drivers = folder(manual_estate, "Drivers")
    x = result["xcom"]
    assert x["export_jobs"]["folders"] == [drivers] and len(x["export_jobs"]["files"]) == 1, why(result, x)
    expected = len(jobs_in_folders(lab, "master", [drivers]))
    assert x["export_jobs"]["master_jobs"] == {"Drivers": expected}, why(result, x["export_jobs"])
    assert x["wait_for_import"]["slave_jobs"] == {"Drivers": expected}, why(result, x["wait_for_import"])
    drivers_jobs = jobs_in_folders(lab, SLAVE, [drivers])
    assert drivers_jobs == jobs_in_folders(lab, "master", [drivers]), why(result)
    assert job_rows(lab, SLAVE, drivers_jobs) == job_rows(lab, "master", drivers_jobs), why(result)
    # Global was not replicated: the master's pending changes there are not on the slave
    global_jobs = jobs_in_folders(lab, SLAVE, [folder(manual_estate, "Global")])
    before = drivers_run["before"]
    unchanged = {i: before.jobs[i] for i in global_jobs}
    assert {i: drivers_run["after"].jobs.get(i) for i in global_jobs} == unchanged, why(result, "Global changed")
    assert seed.REMOVED_ON_MASTER in global_jobs, why(result, "Global was imported")
    assert not set(seed.ADDED_ON_MASTER) & global_jobs, why(result, "Global was imported")
    edited_before = {
        t: [r for r in rows if r["event_id"] in seed.EDITED] for t, rows in drivers_run["jobs_before"].items()
    }
    assert job_rows(lab, SLAVE, set(seed.EDITED)) == edited_before, why(result, "Global was imported")


def test_one_folder_run_loses_nothing(drivers_run):
    assert_nothing_lost(drivers_run)
    before, after, result = parts(drivers_run)
    assert after.schedule == before.schedule and after.info == before.info, why(result, account(before, after))
    assert result["xcom"]["verify_history"]["archived_rows"] == 0, why(result, result["xcom"]["verify_history"])
    assert result["xcom"]["restore_history"]["changed_jobs"] == 0, why(result, result["xcom"]["restore_history"])
    assert_run_tables_gone(drivers_run)


def test_restore_changed_jobs_false_archives_the_edited_jobs_history(held_back_run):
    before, after, result = parts(held_back_run)
    assert_succeeded(result)
    assert_nothing_lost(held_back_run)
    assert_run_tables_gone(held_back_run)
    edited = set(seed.EDITED)
    restore = result["xcom"]["restore_history"]
    assert restore["changed_event_ids"] == sorted(edited), why(result, restore)
    archived = history_of(before, edited | {seed.REMOVED_ON_MASTER})
    assert history_of(before, edited), "the seed gives the edited job history on the slave"
    for key, row in before.schedule.items():
        if key in archived:
            assert key not in after.schedule, why(result, "held-back row is live", key, row)
            assert after.archive.get(key) == row, why(result, "held-back row not archived", key, row)
        else:
            assert after.schedule.get(key) == row, why(result, "row not live unchanged", key, row)
    for key, row in before.info.items():
        if (row["schedule_id"],) in archived:
            assert key not in after.info and after.info_archive.get(key) == row, why(result, key, row)
    assert result["xcom"]["verify_history"]["archived_rows"] == len(archived), why(result, result["xcom"])
    for event_id, (name, _command) in seed.EDITED.items():
        assert after.jobs[event_id]["name"] == name, why(result, after.jobs.get(event_id))


# --- 4. A failed night, then a manual run of one folder -------------------------------------


@pytest.fixture(scope="module")
def crashed_night(manual_estate, held_back_run):
    """aximport crashes in both tries: the first folder's jobs are deleted and not re-created."""
    lab = manual_estate.lab
    lab.fault(SLAVE, "aximport_crash", times=2, match="aximport")
    try:
        return run_and_audit(manual_estate)
    finally:
        faults.clear(lab.dir, SLAVE)


@pytest.fixture(scope="module")
def partial_after_crash(manual_estate, crashed_night):
    return run_and_audit(manual_estate, {"folders": ["Drivers"]})


@pytest.fixture(scope="module")
def full_after_crash(manual_estate, partial_after_crash):
    return run_and_audit(manual_estate)


def test_a_crashed_import_holds_the_history_in_the_backup(crashed_night):
    before, after, result = parts(crashed_night)
    assert result["state"] == "failed" and states(result)["import_jobs"] == "failed", why(result)
    audit = account(before, after)
    assert audit.lost == 0 and audit.detail_lost == 0 and audit.held > 0, why(result, audit)


def test_the_jobs_a_crashed_import_deleted_are_in_the_archive_of_its_first_try(manual_estate, crashed_night):
    """The second try found the first try's archive and kept it: the jobs were still there then."""
    before, after, result = parts(crashed_night)
    missing = set(before.jobs) - set(after.jobs)
    assert missing, why(result, "the crash should leave jobs missing")
    archive = Path(manual_estate.lab.info["hosts"][SLAVE]["share_dir"]) / "ds_replication_archive"
    files = sorted(archive.glob(f"{SLAVE}_*_{run_key(result['run_id'])}_*.bin"))
    exports = [read_export(f) for f in files]
    assert files and None not in exports, why(result, files)
    kept = {job["event_id"] for export in exports for job in export["jobs"]}
    assert missing <= kept, why(result, "deleted but not kept", missing - kept)
    assert "were kept in ds_replication_archive" in result["log"], why(result)


def test_a_one_folder_run_refuses_to_verify_a_leftover_backup(crashed_night, partial_after_crash):
    _before, after, result = parts(partial_after_crash)
    assert result["state"] == "failed" and states(result)["preflight"] == "failed", why(result)
    assert "Run all folders" in result["log"] and "history rows from an earlier run" in result["log"], why(result)
    # nothing changed: the held rows are still held, no job was imported
    assert after.backup == crashed_night["after"].backup and after.schedule == crashed_night["after"].schedule
    assert after.jobs == crashed_night["after"].jobs


def test_the_next_full_run_recovers_the_crashed_nights_history(crashed_night, full_after_crash):
    assert_succeeded(full_after_crash["result"])
    audit = account(crashed_night["before"], full_after_crash["after"])
    assert audit.lost == 0 and audit.detail_lost == 0 and audit.held == 0, why(full_after_crash["result"], audit)
    assert full_after_crash["after"].schedule == crashed_night["before"].schedule, why(full_after_crash["result"])
    assert_run_tables_gone(full_after_crash)
