"""Verify proves the capture was complete (issue 17, point 3): a history row deleted while the
capture triggers were armed, past them, makes the night fail with the rows named, never pass.

SQL Server lets a delete go past an AFTER DELETE trigger: TRUNCATE TABLE fires none (TRUNCATE
TABLE docs), a disabled trigger does not fire (DISABLE TRIGGER docs), and with 'nested
triggers' off a trigger fired by another trigger's statement does not run. The lab's aximport
does the first two on request (faults `aximport_truncate`, `aximport_triggers_off`). In each
night, a history row is written after the backup and before the import: the snapshot does not
hold it, so only the capture could have kept it.
"""

from __future__ import annotations

from typing import Any

import pytest

from ds_replication import history
from tests.integration.test_history_variants import DATABASE, SLAVE, connect, lab_with, reimport
from tests.labctl import Lab

NEW_RUN = 100900001  # the history row written after the backup, with one detail row
NEW_INFO = 77


def global_job(lab: Lab) -> tuple[int, int]:
    """(event_id, computer_id) of a run of a job in the Global tree (its history goes with the import)."""
    row = lab.sql(
        SLAVE,
        "SELECT TOP 1 s.event_id, s.computer_id FROM event_schedule AS s INNER JOIN event AS e "
        "ON e.event_id = s.event_id INNER JOIN event_folder AS f ON f.folder_id = e.folder_id "
        "WHERE f.name = N'Global' ORDER BY s.schedule_id",
    )[0]
    return int(row["event_id"]), int(row["computer_id"])


def night_with(lab: Lab, fault: str | None) -> dict[str, Any]:
    """backup, a history row and its detail written after it, arm, aximport (with `fault`),
    restore, verify."""
    with connect(lab) as conn:
        history.backup(conn, DATABASE)
    event_id, computer_id = global_job(lab)
    lab.sql(SLAVE, "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) VALUES "
            f"({NEW_RUN}, {computer_id}, {event_id}, N'completed', '2026-11-29 01:00:00'); "
            "INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at) "
            f"VALUES ({NEW_RUN}, {NEW_INFO}, 0, N'written after the backup', '2026-11-29 01:00:00')")  # fmt: skip
    with connect(lab) as conn:
        history.arm_capture(conn, DATABASE)
    if fault:
        lab.fault(SLAVE, fault)
    result = lab.shell(SLAVE, reimport())
    assert result.returncode == 0, result.stdout + result.stderr
    figures: dict[str, Any] = {}
    with connect(lab) as conn:
        figures["disarm"] = history.disarm_capture(conn, DATABASE)
        figures["restore"] = history.restore(conn, DATABASE, restore_changed_jobs=True)
        try:
            figures["verify"] = history.verify(conn, DATABASE)
        except history.CaptureIncomplete as error:
            figures["failed"] = error
    return figures


def kept(lab: Lab, table: str, where: str) -> bool:
    """The row is live, or archived."""
    tables = (table, f"ds_replication_{table}_archive")
    return any(lab.table_exists(SLAVE, t) and lab.sql(SLAVE, f"SELECT 1 AS x FROM [{t}] WHERE {where}") for t in tables)


RUN = ("event_schedule", f"schedule_id = {NEW_RUN}")
DETAIL = ("event_schedule_info", f"schedule_id = {NEW_RUN} AND info_id = {NEW_INFO}")


def test_a_normal_night_proves_the_capture_complete_and_keeps_the_rows():
    with lab_with("default") as lab:
        figures = night_with(lab, None)
        assert "failed" not in figures, figures
        assert figures["disarm"]["checked_tables"] == 2 and figures["disarm"]["enabled_triggers"] == 2, figures
        assert figures["disarm"]["uncaptured_rows"] == 0 == figures["disarm"]["uncaptured_detail_rows"], figures
        assert kept(lab, *RUN) and kept(lab, *DETAIL)
        for table in ("armed", "captured", "uncaptured"):
            assert not lab.table_exists(SLAVE, f"ds_replication_event_schedule_info_{table}"), table


@pytest.mark.parametrize(
    "fault, lost, figure",
    [
        # TRUNCATE TABLE event_schedule_info: the detail row goes, no trigger fires
        ("aximport_truncate", DETAIL, "lost_detail_rows"),
        # DISABLE TRIGGER ALL on the history, delete, ENABLE: the history row goes uncaptured
        ("aximport_triggers_off", RUN, "lost_rows"),
    ],
)
def test_a_delete_past_the_capture_fails_the_night_naming_the_rows(fault, lost, figure):
    """Before the fix both nights passed verify with the row gone."""
    with lab_with("default") as lab:
        figures = night_with(lab, fault)
        assert not kept(lab, *lost), "the fault did not take the row past the capture"
        error = figures.get("failed")
        assert error is not None, f"verify passed with a history row gone: {figures}"
        assert error.figures[figure] >= 1, error.figures
        uncaptured = f"ds_replication_{lost[0]}_uncaptured"
        assert "were deleted while the capture triggers were armed without being captured" in str(error)
        assert f"{lost[0]}(schedule_id=" in str(error) and uncaptured in str(error), str(error)  # rows named
        # the backup and the names stay; the night fails again until someone looks
        assert lab.table_exists(SLAVE, "ds_replication_event_schedule_backup")
        assert lab.sql(SLAVE, f"SELECT COUNT(*) AS n FROM {uncaptured} WHERE {lost[1]}") == [{"n": 1}]
        with connect(lab) as conn, pytest.raises(history.CaptureIncomplete):
            history.verify(conn, DATABASE)


def test_triggers_left_armed_by_a_failed_run_are_said_by_the_next_and_what_they_caught_is_kept():
    """A run armed the capture, then failed before restore_history: the triggers stay armed and
    catch whatever is deleted meanwhile (here the DS console deletes a run of a Global job). The next
    night's arming says so, with the rows they caught (before the fix nothing told), and keeps them."""
    with lab_with("default") as lab:
        with connect(lab) as conn:
            history.backup(conn, DATABASE)
            history.arm_capture(conn, DATABASE)  # ... and the run fails here
        event_id, _ = global_job(lab)
        (run,) = lab.sql(SLAVE, f"SELECT TOP 1 schedule_id FROM event_schedule WHERE event_id = {event_id}")
        details = lab.scalar(
            SLAVE, f"SELECT COUNT(*) AS n FROM event_schedule_info WHERE schedule_id = {run['schedule_id']}"
        )
        lab.sql(SLAVE, f"DELETE FROM event_schedule WHERE schedule_id = {run['schedule_id']}")
        with connect(lab) as conn:  # the next night
            history.backup(conn, DATABASE)
            assert history.left_armed(conn) == {"event_schedule": 1, "event_schedule_info": details}
            history.arm_capture(conn, DATABASE)
        result = lab.shell(SLAVE, reimport())
        assert result.returncode == 0, result.stdout + result.stderr
        with connect(lab) as conn:
            history.disarm_capture(conn, DATABASE)
            history.restore(conn, DATABASE, restore_changed_jobs=True)
            history.verify(conn, DATABASE)
        kept = lab.sql(SLAVE, f"SELECT schedule_id FROM event_schedule WHERE schedule_id = {run['schedule_id']}")
        assert kept == [{"schedule_id": run["schedule_id"]}]
