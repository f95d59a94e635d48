"""Scenarios beyond the first nightly run, end to end on the DS lab (real Airflow, `dag.test()`).

- An IDENTITY `schedule_id` on the slave: history kept, removed job archived, a second run idle.
- The master changes between two runs (a job added, one removed, one edited through SQL): the
  slave follows, the removed job's history is archived, the edited job's stays live and is
  reported as changed.
- Manual runs with Params: a dry run of one folder changes nothing on the slave and leaves no
  file behind; a run of one folder replicates only that folder; `restore_changed_jobs: false`
  archives the history of an edited job instead of restoring it.
- A night whose import crashed twice holds the history in the backup; a manual run of one
  folder then refuses to start (the other folders' jobs may still be missing), and the next
  full run puts every row back.

Each scenario has its own lab (module-scoped), and its runs are module-scoped fixtures chained
so that a test selected alone still sees the runs before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ds_replication.factory import TASK_IDS
from ds_replication.run_files import run_key
from tests.e2e.conftest import _estate
from tests.history_audit import account, jobs_in_folders, slave_folders, snapshot
from tests.lab import faults, seed
from tests.lab.ax_tools import read_export

SLAVE = "slave1"
TASKS = TASK_IDS
# from backup_history to verify_history: the steps a dry run skips
SLAVE_CHANGING_TASKS = TASK_IDS[TASK_IDS.index("backup_history") : TASK_IDS.index("verify_history") + 1]
RUN_TABLES = (
    "ds_replication_event_schedule_backup",
    "ds_replication_event_schedule_info_backup",
    "ds_replication_fingerprint",
)
JOB_TABLES = ("event", "event_condition", "install_task", "script_task")


# --- helpers -------------------------------------------------------------------------------


def states(result: dict) -> dict[str, str]:
    return {task: ti["state"] for task, ti in sorted(result["tasks"].items())}


def why(result: dict, *extra: Any) -> str:
    """What a failed assertion should show: the run, its task states, the tail of its log."""
    lines = [f"run {result.get('run_id')}: {result.get('state')}", f"tasks: {states(result)}"]
    lines += [repr(e) for e in extra]
    lines.append("log tail:\n" + result.get("log", "")[-4000:])
    return "\n".join(lines)


def assert_succeeded(result: dict) -> None:
    assert result["state"] == "success", why(result)
    assert set(states(result)) == set(TASKS), why(result)
    assert set(states(result).values()) == {"success"}, why(result)


def folder(estate, name: str) -> dict:
    found = [f for f in slave_folders(estate.config_path, SLAVE) if f["name"] == name]
    assert found, f"folder {name!r} not configured: {slave_folders(estate.config_path, SLAVE)}"
    return found[0]


def job_rows(lab, host: str, event_ids: set[int] | None = None) -> dict[str, list]:
    """The job tables' rows (of `event_ids`, or all), for comparing hosts or moments."""
    where = ""
    if event_ids is not None:
        if not event_ids:
            return {}
        where = f" WHERE event_id IN ({', '.join(str(i) for i in sorted(event_ids))})"
    out = {}
    for table in JOB_TABLES:
        order = {"event": "event_id", "event_condition": "event_id, expression"}.get(table, "event_id, seq")
        rows = lab.sql(host, f"SELECT * FROM [{table}]{where} ORDER BY {order}")
        # task and condition ids are the tool's business; compare what the job is
        out[table] = [{k: v for k, v in r.items() if k not in ("task_id", "condition_id")} for r in rows]
    return out


def run_and_audit(estate, conf: dict | None = None) -> dict:
    lab = estate.lab
    before = snapshot(lab, SLAVE)
    jobs_before = job_rows(lab, SLAVE)
    result = estate.run(SLAVE, conf)
    return {
        "before": before,
        "after": snapshot(lab, SLAVE),
        "jobs_before": jobs_before,
        "jobs_after": job_rows(lab, SLAVE),
        "result": result,
    }


def parts(run: dict) -> tuple:
    return run["before"], run["after"], run["result"]


def history_of(snap, event_ids: set[int]) -> dict[tuple, dict]:
    return {k: r for k, r in snap.schedule.items() if r["event_id"] in event_ids}


def run_files_left(lab) -> dict[str, list[str]]:
    left = {}
    for host, info in lab.info["hosts"].items():
        names = sorted(p.name for p in Path(info["share_dir"]).iterdir() if p.name.startswith("dsrepl_"))
        if names:
            left[host] = names
    return left


def assert_nothing_lost(run: dict) -> None:
    audit = account(run["before"], run["after"])
    assert audit.lost == 0 and audit.detail_lost == 0 and audit.held == 0, why(run["result"], audit)
    assert audit.before > 0 and audit.detail_before > 0, audit


def assert_run_tables_gone(run: dict) -> None:
    left = set(RUN_TABLES) & run["after"].tables
    assert not left, why(run["result"], f"tables of the run left on the slave: {sorted(left)}")


# --- 1. IDENTITY schedule_id ----------------------------------------------------------------


def is_identity(lab, host: str, table: str, column: str) -> bool:
    return bool(
        lab.scalar(
            host,
            "SELECT COUNT(*) AS n FROM sys.identity_columns "
            f"WHERE object_id = OBJECT_ID('{table}') AND name = '{column}'",
        )
    )


@pytest.fixture(scope="module")
def identity_night(identity_estate):
    lab = identity_estate.lab
    assert is_identity(lab, SLAVE, "event_schedule", "schedule_id"), "the identity lab has no IDENTITY column"
    synced = jobs_in_folders(lab, SLAVE, slave_folders(identity_estate.config_path, SLAVE))
    return {**run_and_audit(identity_estate), "synced_before": synced}


def test_identity_nightly_run_succeeds_and_loses_nothing(identity_night):
    assert_succeeded(identity_night["result"])
    assert_nothing_lost(identity_night)


def test_identity_history_live_for_surviving_jobs_archived_for_removed(identity_night):
    before, after, result = parts(identity_night)
    removed = {i for i in identity_night["synced_before"] if i not in after.jobs}
    assert removed == {seed.REMOVED_ON_MASTER}, why(result, "removed jobs", removed)
    for key, row in before.schedule.items():
        if row["event_id"] in removed:
            assert key not in after.schedule, why(result, "removed job's row still live", key)
            assert after.archive.get(key) == row, why(result, "removed job's row not archived", key, row)
        else:
            assert after.schedule.get(key) == row, why(result, "row not live unchanged", key, row)
    for key, row in before.info.items():
        home = after.info if (row["schedule_id"],) in after.schedule else after.info_archive
        assert home.get(key) == row, why(result, "detail row misplaced", key, row)
    x = result["xcom"]
    archived = len(history_of(before, removed))
    assert x["restore_history"]["job_gone_rows"] == archived, why(result, x["restore_history"])
    assert x["verify_history"]["archived_rows"] == archived, why(result, x["verify_history"])
    assert x["verify_history"]["lost_rows"] == 0, why(result, x["verify_history"])


def test_identity_backup_gone_and_identity_kept(identity_estate, identity_night):
    assert_run_tables_gone(identity_night)
    assert is_identity(identity_estate.lab, SLAVE, "event_schedule", "schedule_id"), why(identity_night["result"])
    assert run_files_left(identity_estate.lab) == {}, why(identity_night["result"])


def test_identity_second_run_changes_nothing(identity_estate, identity_night):
    run = run_and_audit(identity_estate)
    result, before, after = run["result"], run["before"], run["after"]
    assert_succeeded(result)
    assert after.schedule == before.schedule and after.info == before.info, why(result, account(before, after))
    assert after.archive == before.archive and after.info_archive == before.info_archive, why(result)
    assert run["jobs_after"] == run["jobs_before"], why(result)
    assert result["xcom"]["restore_history"]["changed_jobs"] == 0, why(result, result["xcom"]["restore_history"])
    assert result["xcom"]["verify_history"]["archived_rows"] == 0, why(result, result["xcom"]["verify_history"])
    assert_run_tables_gone(run)


# --- 2. the master changes between runs -----------------------------------------------------

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


# --- 3. manual runs with Params -------------------------------------------------------------


@pytest.fixture(scope="module")
def manual_estate(request):
    return _estate(request, slaves=1, identity=False)


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
