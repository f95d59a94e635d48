"""A nightly run on the DS lab: jobs replicated, every history row of every surviving job kept.

Real Airflow (`dag.test()`), real providers, the lab's real TDS, WinRM and SMB servers.
Figures the DAG pushes to XCom are checked against counts taken independently with SQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.history_audit import account, jobs_in_folders, slave_folders, snapshot
from tests.lab.ax_tools import read_export

HISTORY_TABLES_OF_A_RUN = (
    "ds_replication_event_schedule_backup",
    "ds_replication_event_schedule_info_backup",
    "ds_replication_fingerprint",
)


def job_rows(lab, host: str, event_ids: set[int]) -> dict[str, list]:
    """Each job's rows in the job tables, for comparing master and slave."""
    if not event_ids:
        return {}
    ids = ", ".join(str(i) for i in sorted(event_ids))
    out = {}
    for table, order in (("event", "event_id"), ("install_task", "task_id"), ("script_task", "task_id")):
        out[table] = lab.sql(host, f"SELECT * FROM [{table}] WHERE event_id IN ({ids}) ORDER BY {order}")
    return out


def run_and_audit(estate, slave: str, conf: dict | None = None):
    lab = estate.lab
    folders = slave_folders(estate.config_path, slave)
    before = snapshot(lab, slave)
    synced_before = jobs_in_folders(lab, slave, folders)
    result = estate.run(slave, conf)
    after = snapshot(lab, slave)
    return before, after, synced_before, result


@pytest.fixture(scope="module")
def first_night(estate):
    """Both slaves replicated once; what each looked like before and after."""
    return {slave: run_and_audit(estate, slave) for slave in estate.lab.slaves()}


def test_every_task_succeeds(first_night):
    for _before, _after, _synced, result in first_night.values():
        states = {t: s["state"] for t, s in result["tasks"].items()}
        assert result["state"] == "success", (states, result["log"][-4000:])
        assert set(states.values()) == {"success"}


def test_slave_jobs_match_the_master(estate, first_night):
    lab = estate.lab
    for slave in first_night:
        folders = slave_folders(estate.config_path, slave)
        master_jobs = jobs_in_folders(lab, "master", folders)
        slave_jobs = jobs_in_folders(lab, slave, folders)
        assert master_jobs and slave_jobs == master_jobs
        assert job_rows(lab, slave, slave_jobs) == job_rows(lab, "master", master_jobs)


def test_local_folders_are_untouched(estate, first_night):
    for _slave, (before, after, synced_before, _result) in first_night.items():
        local = {i: row for i, row in before.jobs.items() if i not in synced_before}
        assert local, "the seed gives each slave local jobs"
        assert {i: after.jobs.get(i) for i in local} == local
        local_history = {k: r for k, r in before.schedule.items() if r["event_id"] in local}
        assert local_history and all(after.schedule.get(k) == r for k, r in local_history.items())


def test_no_history_row_is_lost(first_night):
    for slave, (before, after, _synced, _result) in first_night.items():
        audit = account(before, after)
        assert audit.lost == 0 and audit.detail_lost == 0, (slave, audit)
        assert audit.before > 0 and audit.detail_before > 0


def test_history_of_surviving_jobs_is_live_and_of_removed_jobs_archived(first_night):
    for slave, (before, after, synced_before, _result) in first_night.items():
        removed = {i for i in synced_before if i not in after.jobs}
        assert removed, f"the seed removes a job on the master that {slave} still had"
        for key, row in before.schedule.items():
            if row["event_id"] in removed:
                assert key not in after.schedule and after.archive[key] == row
            else:
                assert after.schedule[key] == row
        # detail rows follow their parent row
        for key, row in before.info.items():
            parent = (row["schedule_id"],)
            home = after.info if parent in after.schedule else after.info_archive
            assert home[key] == row


def test_backup_tables_are_gone_and_files_cleaned_up(estate, first_night):
    lab = estate.lab
    for _slave, (_before, after, _synced, _result) in first_night.items():
        assert not set(HISTORY_TABLES_OF_A_RUN) & after.tables
        assert {"ds_replication_event_schedule_archive", "ds_replication_event_schedule_info_archive"} <= after.tables
    for host, info in lab.info["hosts"].items():
        leftovers = [p.name for p in Path(info["share_dir"]).iterdir() if p.name.startswith("dsrepl_")]
        assert leftovers == [], host


def test_xcom_figures_match_independent_counts(estate, first_night):
    lab = estate.lab
    for slave, (before, after, synced_before, result) in first_night.items():
        x = result["xcom"]
        removed = {i for i in synced_before if i not in after.jobs}
        deleted_by_import = [r for r in before.schedule.values() if r["event_id"] in synced_before]
        assert x["backup_history"]["backed_up_rows"] == len(before.schedule)
        assert x["backup_history"]["leftover_rows"] == 0
        assert x["restore_history"]["restored_rows"] == sum(
            1 for r in deleted_by_import if r["event_id"] not in removed
        )
        assert x["restore_history"]["job_gone_rows"] == sum(1 for r in deleted_by_import if r["event_id"] in removed)
        assert x["verify_history"]["archived_rows"] == x["restore_history"]["job_gone_rows"]
        assert x["verify_history"]["lost_rows"] == 0
        folders = slave_folders(estate.config_path, slave)
        expected = {f["name"]: len(jobs_in_folders(lab, "master", [f])) for f in folders}
        assert x["export_jobs"]["master_jobs"] == expected
        assert x["wait_for_import"]["slave_jobs"] == expected
        copied = x["copy_to_slave"]
        assert copied["bytes"] == sum(f["bytes"] for f in copied["files"].values()) > 0
        found = {k: x["preflight"][k] for k in ("leftover_rows", "restored_rows", "legacy_tables", "adopted_rows")}
        assert found == {"leftover_rows": 0, "restored_rows": 0, "legacy_tables": [], "adopted_rows": 0}
        assert x["preflight"]["armed_capture_triggers"] == [] and x["preflight"]["database_mb"] > 0


def test_edited_jobs_are_reported_as_changed(estate, first_night):
    for _slave, (before, after, synced_before, result) in first_night.items():
        restore = result["xcom"]["restore_history"]
        edited = [i for i in synced_before if i in after.jobs and after.jobs[i] != before.jobs[i]]
        assert edited, "the seed edits a job on the master"
        assert set(edited) <= set(restore["changed_event_ids"])
        assert restore["changed_jobs"] == len(restore["changed_event_ids"])


def test_a_second_run_changes_nothing_and_loses_nothing(estate, first_night):
    slave = estate.lab.slaves()[0]
    before, after, _synced, result = run_and_audit(estate, slave)
    assert result["state"] == "success"
    assert after.schedule == before.schedule and after.info == before.info
    assert after.archive == before.archive and after.jobs == before.jobs
    assert result["xcom"]["restore_history"]["changed_jobs"] == 0
    assert result["xcom"]["verify_history"]["archived_rows"] == 0


def test_no_secret_in_logs_xcom_or_mail(estate, first_night):
    password = estate.lab.info["password"]
    for slave, (_before, _after, _synced, result) in first_night.items():
        assert password not in result["log"], slave
        assert password not in json.dumps(result["xcom"], default=str), slave
    assert all(password not in json.dumps(m) for m in estate.lab.mail())


def test_task_logs_keep_the_steps_not_every_smb_message(first_night):
    for slave, (_before, _after, _synced, result) in first_night.items():
        assert "copied dsrepl_" in result["log"], slave  # the copy task's own line
        assert "Sending SMB2" not in result["log"], slave  # smbprotocol's INFO chatter


def test_the_slaves_own_jobs_are_kept_before_the_import(estate, first_night):
    """import_jobs exports the slave's jobs of each folder before aximport deletes them, into
    files the replication never removes: jobs removed on the master stay recoverable."""
    for slave, (_before, _after, synced_before, result) in first_night.items():
        archive = result["xcom"]["import_jobs"]["archive"]
        assert set(archive) == {f["name"] for f in slave_folders(estate.config_path, slave)}, slave
        share = Path(estate.lab.info["hosts"][slave]["share_dir"])
        kept = set()
        for folder, entry in archive.items():
            export = read_export(share / entry["file"].replace("\\", "/"))
            assert export is not None, (slave, folder, entry)  # complete, its checksum matches
            assert len(export["jobs"]) == entry["jobs"], (slave, folder)
            kept |= {job["event_id"] for job in export["jobs"]}
        assert kept == synced_before, slave  # every job the slave had in those folders, removed ones too
        assert not list((share / "ds_replication_archive").glob("*.part")), slave
