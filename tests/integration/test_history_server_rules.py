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

from ds_replication import history, host_checks
from ds_replication.catalog import CatalogError, read_history_tables
from tests.integration.test_history_variants import (
    DATABASE,
    SLAVE,
    assert_kept,
    connect,
    import_done,
    lab_with,
    night,
    reimport,
    versions,
)
from tests.labctl import Lab

RESTORE_SCHEDULE = "INSERT INTO [dbo].[event_schedule] ("  # restore_history.sql's and restore_row.sql's INSERT


def _count(lab: Lab, table: str) -> int:
    return int(lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM [{table}]"))


@pytest.mark.parametrize(("fault", "number"), [("sql_filegroup_full", 1105), ("sql_log_full", 9002)])
def test_a_resource_error_fails_the_restore_with_every_row_held(fault, number):
    """Msg 1105 / 9002 say nothing of the row: the task fails and no row is archived for them
    (before the fix they counted as a refusal of the row: the restore went on row by row, and a
    row that met the error was archived)."""
    with lab_with("default") as lab:
        before = versions(lab)
        import_done(lab)
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
        import_done(lab)
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
        import_done(lab)
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


GLOBAL_INFO = (
    "SELECT TOP 1 i.schedule_id, i.info_id FROM event_schedule_info AS i WHERE i.schedule_id IN ("
    "SELECT s.schedule_id FROM event_schedule AS s WHERE s.event_id IN (SELECT e.event_id FROM event AS e "
    "WHERE e.folder_id IN (SELECT f.folder_id FROM event_folder AS f WHERE f.name = N'Global'))) "
    "ORDER BY i.schedule_id, i.info_id"
)


def test_a_keyed_table_with_ntext_keeps_every_row_whole():
    """ntext history (a DS of the SQL 2000 era): compared by CAST to nvarchar(max) (Msg 402 on `=`
    before the fix: the backup failed), captured without reading ntext from deleted (Msg 311)."""
    with lab_with("ntext_history") as lab:
        long = "x" * 5000
        lab.sql(SLAVE, f"UPDATE event_schedule_info SET message = N'{long}' WHERE info_id = 2")
        before = versions(lab)
        assert any(r["message"] == long for r in before["info"])

        def edited_after_backup(conn: Any) -> None:
            # the DS rewrites a message after the backup: arming the capture takes it
            key = lab.sql(SLAVE, GLOBAL_INFO)[0]
            lab.sql(SLAVE, "UPDATE event_schedule_info SET message = N'edited after the backup' "
                           f"WHERE schedule_id = {key['schedule_id']} AND info_id = {key['info_id']}")  # fmt: skip
            for row in before["info"]:
                if (row["schedule_id"], row["info_id"]) == (key["schedule_id"], key["info_id"]):
                    row["message"] = "edited after the backup"

        figures = night(lab, during=edited_after_backup)
        after = versions(lab)
        assert_kept(before, after)
        assert figures["restore"]["uncaptured_lob_rows"] == 0
        assert figures["restore"]["restored_detail_rows"] > 0


@pytest.mark.parametrize("schema", ["ntext_history", "ntext_not_null"])
def test_an_ntext_row_written_after_arming_is_archived_by_key_not_put_back_blank(schema):
    """A trigger cannot read the ntext of a row no copy holds: the row goes to the archive with the
    reason and is reported by key; it is never restored with an empty message. With the live column
    NOT NULL (ntext_not_null) the package's tables still take NULL there: before that fix the
    archive copied NOT NULL, the trigger's insert failed (Msg 515), which rolled aximport's delete
    back and failed the night."""
    with lab_with(schema) as lab:
        column = "FROM sys.columns WHERE name = 'message' AND object_id = OBJECT_ID(N'dbo.{}')"
        nullable = "SELECT is_nullable AS n " + column
        assert lab.sql(SLAVE, nullable.format("event_schedule_info")) == [{"n": schema == "ntext_history"}]
        before = versions(lab)
        with connect(lab) as conn:
            history.backup(conn, DATABASE)
            history.arm_capture(conn, DATABASE)
        key = lab.sql(SLAVE, GLOBAL_INFO)[0]
        values = f"({key['schedule_id']}, 99, 0, N'written while armed', '2026-11-03T02:00:00')"
        lab.sql(
            SLAVE,
            f"INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at) VALUES {values}",
        )
        result = lab.shell(SLAVE, reimport())
        assert result.returncode == 0, result.stdout + result.stderr
        with connect(lab) as conn:
            history.disarm_capture(conn, DATABASE)
            figures = history.restore(conn, DATABASE, restore_changed_jobs=True)
            history.verify(conn, DATABASE)
        assert figures["uncaptured_lob_rows"] == 1
        assert_kept(before, versions(lab))
        late = f"WHERE schedule_id = {key['schedule_id']} AND info_id = 99"
        assert lab.sql(SLAVE, f"SELECT info_id FROM event_schedule_info {late}") == []
        archived = lab.sql(SLAVE, "SELECT message, ds_replication_reason AS reason "
                                  f"FROM ds_replication_event_schedule_info_archive {late}")  # fmt: skip
        assert len(archived) == 1 and archived[0]["message"] is None
        assert archived[0]["reason"].startswith("not captured whole: message written after the capture was armed")
        archive = "ds_replication_event_schedule_info_archive"
        assert lab.sql(SLAVE, nullable.format(archive)) == [{"n": True}]
        assert lab.sql(SLAVE, ("SELECT system_type_id AS n " + column).format(archive)) == [{"n": 99}], "ntext"


def test_a_column_the_ds_widens_is_widened_in_the_backup_and_the_archive():
    """Schema drift beyond added columns: while a failed night's backup is held, a DS update makes
    event_schedule.status longer. Before the fix the held backup kept the old width and every later
    backup failed on a long value (Msg 8152): no night could succeed, the held rows stayed held."""
    with lab_with("default") as lab:
        with connect(lab) as conn:  # a night that failed after its backup: status nvarchar(50) held
            history.backup(conn, DATABASE)
        lab.sql(SLAVE, "ALTER TABLE event_schedule ALTER COLUMN status nvarchar(200) NOT NULL")
        long = "completed with a long explanation " * 4
        lab.sql(SLAVE, f"UPDATE event_schedule SET status = N'{long}' WHERE schedule_id % 2 = 0")
        before = versions(lab)
        night(lab)
        assert_kept(before, versions(lab))
        widths = lab.sql(
            SLAVE,
            "SELECT max_length AS n FROM sys.columns WHERE name = 'status' AND object_id IN "
            "(OBJECT_ID(N'dbo.ds_replication_event_schedule_archive'), OBJECT_ID(N'dbo.event_schedule'))",
        )
        assert [w["n"] for w in widths] == [400, 400]


FIRST_ON_DELETE = (
    "SELECT t.name FROM sys.triggers AS t INNER JOIN sys.trigger_events AS e ON e.object_id = t.object_id "
    "WHERE t.parent_id = OBJECT_ID(N'dbo.{table}') AND e.type_desc = N'DELETE' AND e.is_first = 1"
)


def test_the_capture_trigger_fires_first_unless_a_site_trigger_is_first_which_is_named(caplog):
    """sp_settriggerorder: the capture trigger is made First on DELETE, so no site trigger acts on the
    rows before they are copied (before the fix no order was set). A site's own First trigger is left
    as it is (a second First is Msg 15130): preflight's history check and the arming name it."""
    with lab_with("default") as lab:
        with connect(lab) as conn:
            history.backup(conn, DATABASE)
            history.arm_capture(conn, DATABASE)
        for table in ("event_schedule", "event_schedule_info"):
            first = lab.sql(SLAVE, FIRST_ON_DELETE.format(table=table))
            assert first == [{"name": f"ds_replication_capture_{table}"}], (table, first)
        with connect(lab) as conn:
            history.disarm_capture(conn, DATABASE)
        lab.sql(SLAVE, "CREATE TABLE site_log (deleted_rows int NOT NULL)")
        lab.sql(SLAVE, "CREATE TRIGGER site_audit ON event_schedule_info AFTER DELETE AS "
                       "INSERT INTO site_log SELECT COUNT(*) FROM deleted")  # fmt: skip
        lab.sql(SLAVE, "EXEC sp_settriggerorder @triggername = N'dbo.site_audit', @order = N'First', "
                       "@stmttype = N'DELETE'")  # fmt: skip
        before = versions(lab)
        with connect(lab) as conn:
            check, _ = host_checks.history_tables(conn)
        assert check.ok and "site_audit (the First AFTER DELETE trigger" in check.found, check.found
        caplog.clear()
        night(lab)
        assert "the site's trigger site_audit is the First AFTER DELETE trigger" in caplog.text
        assert lab.sql(SLAVE, FIRST_ON_DELETE.format(table="event_schedule_info")) == [{"name": "site_audit"}]
        assert_kept(before, versions(lab))


def test_a_column_the_ds_retypes_is_refused_by_name_before_anything_changes():
    """Schema drift beyond widening: while a failed night's backup is held, a DS update makes
    event_schedule.status varchar. Copying the held nvarchar values into it would lose what the code
    page lacks; before the fix the night went on ("kept as it is"). Now the backup refuses, naming
    the column and both types, and the held rows stay as they are."""
    with lab_with("default") as lab:
        with connect(lab) as conn:  # a night that failed after its backup: status nvarchar(50) held
            history.backup(conn, DATABASE)
        held = _count(lab, "ds_replication_event_schedule_backup")
        lab.sql(SLAVE, "ALTER TABLE event_schedule ALTER COLUMN status varchar(50) NOT NULL")
        with connect(lab) as conn, pytest.raises(CatalogError) as refused:
            history.backup(conn, DATABASE)
        message = str(refused.value)
        assert "column status of event_schedule is varchar(50) now but nvarchar(50) in " in message, message
        assert "ds_replication_event_schedule_backup" in message and "nothing was changed" in message
        assert _count(lab, "ds_replication_event_schedule_backup") == held
        types = lab.sql(SLAVE, "SELECT system_type_id AS t FROM sys.columns WHERE name = 'status' "
                               "AND object_id = OBJECT_ID(N'dbo.ds_replication_event_schedule_backup')")  # fmt: skip
        assert types == [{"t": 231}], "still nvarchar"
