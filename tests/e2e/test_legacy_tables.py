"""Sites that come from an older procedure, end to end on the DS lab (real Airflow, `dag.test()`).

- The seed article's procedure failed on a night: its `event_schedule_backup` (made by
  `select * into`: `event_schedule` only, no detail table) holds the only copy of the history
  its import deleted. The DAG's `preflight` finds it, leaves it as it is, adopts its rows, and
  the night restores them; the alert says what was found.
- A slave upgraded from this package's older table names (`event_schedule_backup`,
  `event_schedule_info_backup`, `event_schedule_archive`) after a failed night keeps its held
  and archived rows.
- The capture triggers a killed import left armed are found by the next run's preflight (and
  named in its alert), re-armed by its import and removed by its restore.
"""

from __future__ import annotations

import pytest

from ds_replication import history
from tests.e2e.conftest import _estate
from tests.e2e.scenario_checks import assert_succeeded, why
from tests.history_audit import account, snapshot
from tests.lab_tests.test_article import BACKUP_SQL

SLAVE = "slave1"
FIREFOX = 2020549  # a Global job the master still has (edited)


@pytest.fixture(scope="module")
def estate(request):
    # the estate file never changes here: the nights share one dag.test() process (conftest.Estate)
    return _estate(request, slaves=1, identity=False, one_process=True)


def _failed_article_night(lab) -> None:
    """The article's backup, then an aximport that deleted Firefox's history, then no restore."""
    lab.sql(SLAVE, BACKUP_SQL)
    lab.sql(SLAVE, f"DELETE FROM event_schedule WHERE event_id = {FIREFOX}")


def test_an_articles_leftover_backup_is_adopted_and_restored(estate):
    lab = estate.lab
    before = snapshot(lab, SLAVE)
    _failed_article_night(lab)
    old_rows = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event_schedule_backup")
    lost_by_article = lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM event_schedule_backup WHERE event_id = {FIREFOX}")
    assert lost_by_article > 0
    result = estate.run(SLAVE)
    assert_succeeded(result)
    preflight = result["xcom"]["preflight"]
    assert preflight["legacy_tables"] == ["event_schedule_backup"], why(result, preflight)
    assert preflight["adopted_rows"] == lost_by_article, why(result, preflight)
    after = snapshot(lab, SLAVE)
    # every row the article's night held is live again, or archived with its removed job
    accounting = account(before, after)
    assert accounting.lost == 0 and accounting.held == 0, why(result, accounting)
    # the old table is left as it was: never changed, never dropped
    assert lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event_schedule_backup") == old_rows
    mails = [m for m in lab.mail() if "event_schedule_backup" in m.get("body", "") + m.get("subject", "")]
    assert mails, lab.mail()
    # a second night adopts nothing again
    again = estate.run(SLAVE)
    assert_succeeded(again)
    assert again["xcom"]["preflight"]["adopted_rows"] == 0, why(again)


def test_held_and_archived_rows_of_the_old_names_are_kept_after_an_upgrade(estate):
    lab = estate.lab
    for table in ("event_schedule_backup", "event_schedule_info_backup", "event_schedule_archive"):
        if lab.table_exists(SLAVE, table):
            lab.sql(SLAVE, f"DROP TABLE [{table}]")
    before = snapshot(lab, SLAVE)
    # what an older version of this package left after a crashed import: both backup tables,
    # and an archive holding the history of a job removed on an earlier night
    lab.sql(SLAVE, "SELECT * INTO event_schedule_backup FROM event_schedule")
    lab.sql(SLAVE, "SELECT * INTO event_schedule_info_backup FROM event_schedule_info")
    lab.sql(SLAVE, "SELECT * INTO event_schedule_archive FROM event_schedule WHERE 1 = 0")
    lab.sql(
        SLAVE,
        "INSERT INTO event_schedule_archive VALUES "
        "(100999999, 1, 2020999, N'completed', '2026-01-01 00:00:00.000', '2026-01-01 00:01:00.000')",
    )
    lab.sql(SLAVE, f"DELETE FROM event_schedule WHERE event_id = {FIREFOX}")
    result = estate.run(SLAVE)
    assert_succeeded(result)
    preflight = result["xcom"]["preflight"]
    assert set(preflight["legacy_tables"]) == {
        "event_schedule_backup",
        "event_schedule_info_backup",
        "event_schedule_archive",
    }, why(result, preflight)
    after = snapshot(lab, SLAVE)
    accounting = account(before, after)
    assert accounting.lost == 0 and accounting.detail_lost == 0 and accounting.held == 0, why(result, accounting)
    archived = lab.sql(
        SLAVE,
        "SELECT ds_replication_reason AS reason FROM ds_replication_event_schedule_archive "
        "WHERE schedule_id = 100999999",
    )
    assert archived == [{"reason": "adopted from event_schedule_archive"}], archived


def test_capture_triggers_a_killed_import_left_are_found_and_removed(estate):
    lab = estate.lab
    before = snapshot(lab, SLAVE)
    # what a worker killed during aximport leaves: the backup, and the capture triggers armed
    with lab.connect(SLAVE) as conn:
        history.backup(conn, "express")
        armed = history.arm_capture(conn, "express")
    # while they stay armed, the DS console deletes a run: they catch it (and its detail rows)
    (run,) = lab.sql(SLAVE, "SELECT TOP 1 schedule_id FROM event_schedule ORDER BY schedule_id")
    where = f"WHERE schedule_id = {run['schedule_id']}"
    details = lab.sql(SLAVE, f"SELECT COUNT(*) AS n FROM event_schedule_info {where}")[0]["n"]
    lab.sql(SLAVE, f"DELETE FROM event_schedule {where}")
    result = estate.run(SLAVE)
    assert_succeeded(result)
    preflight = result["xcom"]["preflight"]
    assert preflight["armed_capture_triggers"] == armed, why(result)
    caught = {"event_schedule": 1, "event_schedule_info": details}
    assert preflight["captured_while_left_armed"] == caught, why(result)
    mails = [m for m in lab.mail() if "capture trigger" in m["body"]]
    assert mails and result["run_id"] in mails[-1]["body"], lab.mail()[-1:]
    assert f"1 from event_schedule, {details} from event_schedule_info" in mails[-1]["body"], mails[-1]["body"]
    # deleted outside any aximport window: named with its session (docs/history.md, "Who deleted a captured row")
    outside = (preflight["outside_import_rows"], preflight["outside_import_detail_rows"])
    assert outside == (1, details), why(result, preflight)
    assert [s["rows"] for s in preflight["outside_import_sessions"]] == [1], why(result, preflight)
    assert "were deleted by another session than aximport" in mails[-1]["body"], mails[-1]["body"]
    assert not lab.sql(SLAVE, "SELECT name FROM sys.triggers WHERE name LIKE 'ds_replication%'")
    accounting = account(before, snapshot(lab, SLAVE))
    assert accounting.lost == 0 and accounting.held == 0, why(result, accounting)
