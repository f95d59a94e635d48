"""The history steps under SQL Server's own rules, as the lab now enforces them: resource errors
that are no fault of the row, IDENTITY_INSERT as a session setting, a login whose language reads
dates year-day-month, and ntext history columns. Each is a way a real server differs from a
kind one; each test failed on the code before its fix."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pymssql
import pytest

from ds_replication import history
from ds_replication.catalog import read_history_tables
from tests.integration.test_history_variants import (
    DATABASE,
    SLAVE,
    assert_kept,
    connect,
    lab_with,
    night,
    reimport,
    versions,
)
from tests.labctl import Lab

RESTORE_SCHEDULE = "INSERT INTO [dbo].[event_schedule] ("  # restore_history.sql's and restore_row.sql's INSERT


def _import_done(lab: Lab) -> None:
    """backup, arm, aximport, disarm: the history the import deleted is held in the backup."""
    with connect(lab) as conn:
        history.backup(conn, DATABASE)
        history.arm_capture(conn, DATABASE)
    result = lab.shell(SLAVE, reimport())
    assert result.returncode == 0, result.stdout + result.stderr
    with connect(lab) as conn:
        history.disarm_capture(conn, DATABASE)


def _count(lab: Lab, table: str) -> int:
    return int(lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM [{table}]"))


@pytest.mark.parametrize(("fault", "number"), [("sql_filegroup_full", 1105), ("sql_log_full", 9002)])
def test_a_resource_error_fails_the_restore_with_every_row_held(fault, number):
    """Msg 1105 / 9002 say nothing of the row: the task fails and no row is archived for them
    (before the fix they counted as a refusal of the row: the restore went on row by row, and a
    row that met the error was archived)."""
    with lab_with("default") as lab:
        before = versions(lab)
        _import_done(lab)
        held = _count(lab, "ds_replication_event_schedule_backup")
        lab.fault(SLAVE, fault, match=RESTORE_SCHEDULE)
        with connect(lab) as conn, pytest.raises(pymssql.Error) as raised:
            history.restore(conn, DATABASE, restore_changed_jobs=True)
        assert raised.value.args[0] == number
        assert _count(lab, "ds_replication_event_schedule_archive") == 0
        assert _count(lab, "ds_replication_event_schedule_backup") == held
        with connect(lab) as conn:  # the retry: the filegroup has room again
            figures = history.restore(conn, DATABASE, restore_changed_jobs=True)
            history.verify(conn, DATABASE)
        assert figures["refused_rows"] == 0
        assert_kept(before, versions(lab))


def test_identity_insert_is_turned_off_after_a_failed_restore():
    """SET IDENTITY_INSERT is a session setting: a restore batch that failed between ON and OFF
    left it ON on the connection, so the next table's ON failed with Msg 8107."""
    root = Path(tempfile.mkdtemp(prefix="ds-identity-"))
    lab = Lab(root / "lab").up(slaves=1, identity=True)
    try:
        lab.sql(SLAVE, "CREATE TABLE site_log (log_id int IDENTITY(1, 1) NOT NULL, note nvarchar(20) NULL)")
        _import_done(lab)
        lab.fault(SLAVE, "sql_filegroup_full", match=RESTORE_SCHEDULE)
        with connect(lab) as conn:
            with pytest.raises(pymssql.Error, match="1105"):
                history.restore(conn, DATABASE, restore_changed_jobs=True)
            cursor = conn.cursor()
            cursor.execute("SET IDENTITY_INSERT [dbo].[site_log] ON")  # Msg 8107 before the fix
            cursor.execute("SET IDENTITY_INSERT [dbo].[site_log] OFF")
            history.restore(conn, DATABASE, restore_changed_jobs=True)
            history.verify(conn, DATABASE)
    finally:
        lab.down()
        shutil.rmtree(root, ignore_errors=True)


def test_dates_in_row_by_row_restore_do_not_depend_on_the_login_language():
    """A keyless table's key holds its datetime; pymssql sends it as 'YYYY-MM-DD hh:mm:ss.mmm', which
    a British login reads year-day-month (Msg 242 for 2026-10-15). The key goes as ISO 8601 with T."""
    with lab_with("info_no_key") as lab:
        before = versions(lab)
        _import_done(lab)
        lab.sql(SLAVE, f"ALTER LOGIN [{lab.info['user']}] WITH DEFAULT_LANGUAGE = British")
        with connect(lab) as conn:
            assert lab.scalar(SLAVE, "SELECT @@LANGUAGE AS l") == "British"
            history.restore(conn, DATABASE, restore_changed_jobs=True)  # the schedules first
            info = read_history_tables(conn)[1]
            held = _count(lab, "ds_replication_event_schedule_info_backup")
            context: dict[str, Any] = {"database": DATABASE, "t": info, "restore_changed_jobs": True}
            lab.sql(SLAVE, "DELETE FROM event_schedule_info")  # as before restore_history ran
            restored, refused = history._restore_row_by_row(conn, context)
            assert (restored, refused) == (held, 0)
            history.verify(conn, DATABASE)
        assert_kept(before, versions(lab))


def test_a_night_under_a_british_login_keeps_every_row():
    with lab_with("british_login") as lab:
        assert lab.scalar(SLAVE, "SELECT @@LANGUAGE AS l") == "British"
        before = versions(lab)
        night(lab)
        assert_kept(before, versions(lab))
