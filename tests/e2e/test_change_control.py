"""Change control on the DS lab (issue 20): the retention of job archives and archive-table
rows at the night's cleanup (and nothing removed while a failed night holds its backup), and
rolling a night back to the slave's own job archive.

One lab and one Airflow for the module; the nights run with `dag.test()` (real providers, the
lab's TDS, WinRM and SMB servers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import FAST_SETTINGS, _estate
from tests.e2e.scenario_checks import why
from tests.history_audit import account, snapshot
from tests.lab import faults

SLAVE = "slave1"
ARCHIVE_TABLES = ("ds_replication_event_schedule_archive", "ds_replication_event_schedule_info_archive")
# Kept: archives of the last 30 nights, and at least the newest 3.
RETENTION = {"nights": 30, "min_archives": 3}


@pytest.fixture(scope="module")
def control_estate(request):
    # the estate file never changes here: the nights share one dag.test() process (conftest.Estate)
    return _estate(
        request, slaves=1, identity=False, settings={**FAST_SETTINGS, "retention": RETENTION}, one_process=True
    )


def archive_dir(estate) -> Path:
    return Path(estate.lab.info["hosts"][SLAVE]["share_dir"]) / "ds_replication_archive"


def old_archive(estate, date: str, key: str) -> str:
    """An archive file as an old night left it (its run's date and key in the name)."""
    name = f"{SLAVE}_{date}_{key * 12}_1.bin"
    (archive_dir(estate) / name).write_bytes(b"jobs of an old night")
    return name


def archived_at(estate, table: str) -> dict[str, str | None]:
    key = "schedule_id" if table.endswith("schedule_archive") else "info_id"
    rows = estate.lab.sql(SLAVE, f"SELECT {key} AS k, ds_replication_archived_at AS t FROM [{table}]")
    return {str(r["k"]): r["t"] for r in rows}


def test_retention_removes_old_archives_and_rows_and_keeps_the_newest_and_the_recent(control_estate):
    estate = control_estate
    first = estate.run(SLAVE)  # makes the archive tables and archives the removed job's history
    assert first["state"] == "success", why(first)
    archived = estate.lab.sql(SLAVE, "SELECT schedule_id FROM ds_replication_event_schedule_archive")
    assert len(archived) >= 3, archived
    gone_row, kept_row, dateless_row = (str(r["schedule_id"]) for r in archived[:3])
    # Two rows archived long ago: one before the oldest archive kept (goes), one after (stays);
    # a row with no archive time stays.
    estate.lab.sql(
        SLAVE,
        f"UPDATE ds_replication_event_schedule_archive SET ds_replication_archived_at = '2025-01-15T00:00:00' "
        f"WHERE schedule_id = {gone_row}; "
        f"UPDATE ds_replication_event_schedule_archive SET ds_replication_archived_at = '2025-03-05T00:00:00' "
        f"WHERE schedule_id = {kept_row}; "
        f"UPDATE ds_replication_event_schedule_archive SET ds_replication_archived_at = NULL "
        f"WHERE schedule_id = {dateless_row}; "
        "UPDATE ds_replication_event_schedule_info_archive SET ds_replication_archived_at = '2025-01-15T00:00:00' "
        f"WHERE schedule_id = {gone_row}",
    )
    info_before = estate.lab.sql(
        SLAVE, f"SELECT info_id FROM ds_replication_event_schedule_info_archive WHERE schedule_id = {gone_row}"
    )
    oldest, older, newest_old = (
        old_archive(estate, d, k) for d, k in (("20250101", "a"), ("20250201", "b"), ("20250301", "c"))
    )
    other_slave = f"{SLAVE}0_20250101_{'d' * 12}_1.bin"  # another slave's name starts alike
    (archive_dir(estate) / other_slave).write_bytes(b"not slave1's")
    (archive_dir(estate) / "notes.txt").write_text("the admin's own file")
    first_night_files = {p.name for p in archive_dir(estate).glob(f"{SLAVE}_2*_*.bin")} - {oldest, older, newest_old}
    assert first_night_files, "the first night kept the slave's jobs"

    second = estate.run(SLAVE)
    assert second["state"] == "success" and second["tasks"]["cleanup"]["state"] == "success", why(second)
    report = second["xcom"]["cleanup"]["retention"]
    present = {p.name for p in archive_dir(estate).iterdir()}
    # kept: this night's and the first night's archives (within 30 nights) and the newest old
    # one (3 at least); removed: the two older ones; other files untouched
    assert first_night_files | {newest_old, other_slave, "notes.txt"} <= present, (present, report)
    assert not {oldest, older} & present, (present, report)
    assert [a["files"] for a in report["removed"]] == [[older], [oldest]], report
    assert len(report["kept"]) == 3 and report["kept"][-1]["files"] == [newest_old], report
    assert report["rows_archived_before"] == "2025-02-28", report
    rows = archived_at(estate, ARCHIVE_TABLES[0])
    assert gone_row not in rows and kept_row in rows and dateless_row in rows, (rows, report)
    assert report["archive_rows_removed"] == {ARCHIVE_TABLES[0]: 1, ARCHIVE_TABLES[1]: len(info_before)}, report
    assert "retention (30 nights, at least 3 archives): kept 3 job archives, removed 2" in second["log"]


def test_a_dry_run_removes_no_archive(control_estate):
    estate = control_estate
    name = old_archive(estate, "20240101", "e")
    before = snapshot(estate.lab, SLAVE)
    result = estate.run(SLAVE, {"dry_run": True})
    assert result["state"] == "success" and result["tasks"]["cleanup"]["state"] == "success", why(result)
    assert (archive_dir(estate) / name).exists()
    assert result["xcom"]["cleanup"]["retention"] == {"skipped": "dry run"}
    assert snapshot(estate.lab, SLAVE).archive == before.archive


def test_a_failed_night_holds_its_backup_and_the_retention_removes_nothing_until_verified(control_estate):
    """A night whose import crashes in both tries holds the history in its backup: its cleanup
    removes no archive file and no archive-table row (a recovery may need any of them); the next
    night brings the held rows back, is verified, and only then does the retention remove them."""
    estate, lab = control_estate, control_estate.lab
    name = old_archive(estate, "20240201", "f")  # older than 30 nights and than the newest 3
    (row,) = lab.sql(SLAVE, "SELECT TOP 1 schedule_id FROM ds_replication_event_schedule_archive")
    old_row = str(row["schedule_id"])
    lab.sql(
        SLAVE,
        "UPDATE ds_replication_event_schedule_archive SET ds_replication_archived_at = '2024-01-15T00:00:00' "
        f"WHERE schedule_id = {old_row}",
    )
    before = snapshot(lab, SLAVE)

    lab.fault(SLAVE, "aximport_crash", times=2, match="aximport")  # retries=1: both tries crash
    try:
        failed = estate.run(SLAVE)
    finally:
        unfired = faults.armed(lab.dir, SLAVE)
        faults.clear(lab.dir, SLAVE)
    assert unfired == [], unfired
    assert failed["state"] == "failed" and failed["tasks"]["import_jobs"]["state"] == "failed", why(failed)
    assert failed["tasks"]["cleanup"]["state"] == "success", why(failed)
    held = snapshot(lab, SLAVE)
    assert held.backup and account(before, held).held > 0, why(failed)  # the backup is held
    assert (archive_dir(estate) / name).exists(), why(failed)
    assert old_row in archived_at(estate, ARCHIVE_TABLES[0]), why(failed)
    assert "the night was not verified: the retention removes nothing" in failed["log"], why(failed)

    recovery = estate.run(SLAVE)
    assert recovery["state"] == "success", why(recovery)
    books = account(before, snapshot(lab, SLAVE))
    assert books.lost == books.detail_lost == books.held == 0, (books, why(recovery))
    report = recovery["xcom"]["cleanup"]["retention"]
    assert not (archive_dir(estate) / name).exists(), report
    assert name in [f for archive in report["removed"] for f in archive["files"]], report
    assert old_row not in archived_at(estate, ARCHIVE_TABLES[0]), report


def slave_jobs(estate) -> list[tuple]:
    rows = estate.lab.sql(
        SLAVE,
        "SELECT e.event_id, e.name, e.folder_id, t.package, t.arguments FROM event e "
        "LEFT JOIN install_task t ON t.event_id = e.event_id ORDER BY e.event_id",
    )
    return [tuple(r.values()) for r in rows]


def test_a_rollback_brings_back_what_a_night_renamed_and_removed_and_keeps_history(control_estate):
    estate = control_estate
    jobs_before = slave_jobs(estate)
    names = {row[1] for row in jobs_before}
    assert {"[I] Audacity 1.2.6 Install", "[I] Adobe AIR Runtime 1.5.1.8210 Install"} <= names, names
    # on the master: one job renamed, one removed
    estate.lab.sql(
        "master",
        "UPDATE event SET name = '[I] Audacity 1.3 Install' WHERE event_id = 2020545; "
        "DELETE FROM install_task WHERE event_id = 2020547; DELETE FROM event WHERE event_id = 2020547",
    )
    night = estate.run(SLAVE)
    assert night["state"] == "success", why(night)
    changed = {row[1] for row in slave_jobs(estate)}
    assert "[I] Audacity 1.3 Install" in changed and "[I] Adobe AIR Runtime 1.5.1.8210 Install" not in changed
    before = snapshot(estate.lab, SLAVE)
    archived_by_the_night = dict(before.archive)

    rollback = estate.run(SLAVE, {"rollback_to": night["run_id"]})
    assert rollback["state"] == "success", why(rollback)
    assert {s["state"] for s in rollback["tasks"].values()} == {"success"}, why(rollback)
    assert rollback["xcom"]["export_jobs"]["rollback_to"] == night["run_id"], why(rollback)
    assert rollback["xcom"]["approve_changes"]["asked"] is False
    assert slave_jobs(estate) == jobs_before, why(rollback)  # names, ids, tasks as before the night
    after = snapshot(estate.lab, SLAVE)
    audit = account(before, after)
    assert audit.lost == 0 and audit.detail_lost == 0, (audit, why(rollback))
    assert all(after.archive.get(k) == row for k, row in archived_by_the_night.items())  # still archived
    assert rollback["xcom"]["verify_history"]["lost_rows"] == 0

    # once that night's archive is gone from the slave (the retention's doing; here by hand),
    # the same rollback is refused by name, before anything changes
    for entry in night["xcom"]["import_jobs"]["archive"].values():
        (archive_dir(estate) / entry["file"].rsplit("\\", 1)[-1]).unlink()
    jobs_now, history_now = slave_jobs(estate), snapshot(estate.lab, SLAVE)
    refused = estate.run(SLAVE, {"rollback_to": night["run_id"]})
    assert refused["state"] == "failed" and refused["tasks"]["export_jobs"]["state"] == "failed", why(refused)
    assert "params.rollback_to: ds_replication_archive\\" in refused["log"], why(refused)
    assert "is no longer on the slave (removed by the retention, or by hand); choose a later run" in refused["log"]
    assert refused["tasks"]["import_jobs"]["state"] != "success", why(refused)
    assert slave_jobs(estate) == jobs_now
    assert snapshot(estate.lab, SLAVE).schedule == history_now.schedule


def test_a_rollback_to_a_run_without_an_archive_fails_naming_the_param(control_estate):
    result = control_estate.run(SLAVE, {"rollback_to": "manual__no_such_run"})
    assert result["state"] == "failed", why(result)
    assert result["tasks"]["export_jobs"]["state"] == "failed", why(result)
    assert "params.rollback_to: run 'manual__no_such_run' of this DAG kept no job archive" in result["log"]
    assert result["tasks"]["import_jobs"]["state"] != "success", why(result)
