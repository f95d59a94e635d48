"""AFTER DELETE triggers as SQL Server fires them (tsql/firing.py): once per statement with the
whole `deleted` set, nested only while the server option `nested triggers` is on (32 levels),
not by TRUNCATE TABLE, not while disabled. Each test names the SQL Server rule it copies."""

from __future__ import annotations

import sqlite3

import pytest

from tests.lab import ax_tools, ds_schema
from tests.lab.tsql import Engine, server
from tests.lab_tests.test_tsql import HISTORY, SEED, error_of, rows, run, with_session

NO_FAULT = lambda name, line: False  # noqa: E731
# A log of each firing: how many rows its `deleted` held.
FIRINGS = "CREATE TABLE firings (trigger_name nvarchar(50) NOT NULL, deleted_rows int NOT NULL)"


def counting(name: str, table: str) -> str:
    return (
        f"CREATE TRIGGER {name} ON {table} AFTER DELETE AS INSERT INTO firings (trigger_name, deleted_rows) "
        f"SELECT N'{name}', COUNT(*) FROM deleted"
    )


@pytest.fixture
def s(db_path):
    engine = Engine(str(db_path))
    with_session(engine, SEED + HISTORY)
    session = engine.session()
    run(session, FIRINGS)
    yield session
    session.close()


def firings(s) -> list[tuple]:
    return rows(s, "SELECT trigger_name, deleted_rows FROM firings ORDER BY trigger_name, deleted_rows")


def test_an_after_trigger_fires_once_per_statement_with_every_deleted_row(s):
    """CREATE TRIGGER (Transact-SQL): a DML trigger fires once per statement, not once per row;
    `deleted` holds every row the statement removed. It fires for a statement that removes no
    row too ("DML triggers ... fire even if no rows are affected")."""
    run(s, counting("count_info", "event_schedule_info"))
    assert rows(s, "SELECT COUNT(*) FROM event_schedule_info") == [(2,)]
    assert run(s, "DELETE FROM event_schedule_info") == [2]
    assert firings(s) == [("count_info", 2)]
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = -1")
    assert firings(s) == [("count_info", 0), ("count_info", 2)]


def test_duplicate_rows_of_a_keyless_table_are_both_in_deleted(tmp_path):
    """On a heap with an exact duplicate pair, one DELETE puts both copies in `deleted`; a
    backup trigger that replaces matching copies and then inserts `deleted` keeps both (the
    lab's per-row triggers kept one: the second firing removed the first one's copy)."""
    path = tmp_path / "express.db"
    ds_schema.create_express(path, schema="info_no_key")
    engine = Engine(str(path))
    with_session(engine, SEED + HISTORY)
    s = engine.session()
    try:
        run(s, "INSERT INTO event_schedule_info SELECT * FROM event_schedule_info WHERE schedule_id = 100000023")
        run(s, "SELECT * INTO backup_info FROM event_schedule_info WHERE 1 = 0")
        run(s, "CREATE TRIGGER keep ON event_schedule_info AFTER DELETE AS BEGIN "
            "DELETE b FROM backup_info AS b WHERE EXISTS (SELECT 1 FROM deleted AS d "
            "WHERE d.schedule_id = b.schedule_id AND d.info_id = b.info_id "
            "AND EXISTS (SELECT d.status_code, d.message, d.logged_at "
            "INTERSECT SELECT b.status_code, b.message, b.logged_at)); "
            "INSERT INTO backup_info SELECT * FROM deleted END")  # fmt: skip
        before = rows(s, "SELECT * FROM event_schedule_info ORDER BY schedule_id, info_id")
        assert len(before) == 3 and before[0] == before[1]  # an exact duplicate pair
        run(s, "DELETE FROM event_schedule_info")
        assert rows(s, "SELECT * FROM backup_info ORDER BY schedule_id, info_id") == before
    finally:
        s.close()


def test_the_ds_cascade_is_nested_and_stops_when_nested_triggers_is_off(s):
    """sp_configure 'nested triggers' (server configuration option, configuration_id 115): 1 lets
    an AFTER trigger's statement fire other triggers (to 32 levels); 0 does not. The DS's own
    event -> event_schedule -> event_schedule_info cascade is such a chain, and a capture
    trigger on event_schedule_info sits at its third level. value_in_use changes at RECONFIGURE."""
    run(s, counting("count_info", "event_schedule_info"))
    run(s, "DELETE FROM event WHERE event_id = 10")
    assert firings(s) == [("count_info", 1)]
    assert rows(s, "SELECT COUNT(*) FROM event_schedule_info WHERE schedule_id = 100000023") == [(0,)]
    run(s, "EXEC sp_configure 'nested triggers', 0")
    assert rows(s, "SELECT name, value, value_in_use FROM sys.configurations WHERE configuration_id = 115") == [
        ("nested triggers", 0, 1)
    ]
    run(s, "DELETE FROM event WHERE event_id = 11")  # not installed yet: still nested
    assert firings(s) == [("count_info", 0), ("count_info", 1)]
    run(s, "RECONFIGURE")
    assert rows(s, "SELECT value, value_in_use FROM sys.configurations WHERE name = 'nested triggers'") == [(0, 0)]
    run(s, "DELETE FROM event WHERE event_id = 12")
    # event_delete ran (level 1) and deleted the job's history; event_schedule_delete (level 2)
    # did not, so its detail rows stay, and the capture trigger (level 3) saw nothing
    assert rows(s, "SELECT COUNT(*) FROM event_schedule WHERE event_id = 12") == [(0,)]
    assert rows(s, "SELECT COUNT(*) FROM event_schedule_info WHERE schedule_id = 100000025") == [(1,)]
    assert firings(s) == [("count_info", 0), ("count_info", 1)]
    # a statement of the client's own still fires its table's triggers (level 1)
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000025")
    assert firings(s) == [("count_info", 0), ("count_info", 1), ("count_info", 1)]


def test_sp_configure_reports_and_refuses_as_sql_server(s):
    """sp_configure 'name' reports (name, minimum, maximum, config_value, run_value); an unknown
    option is Msg 15123, a value out of range Msg 15129."""
    (report,) = run(s, "EXEC sp_configure 'nested triggers'")
    assert [c.name for c in report.columns] == ["name", "minimum", "maximum", "config_value", "run_value"]
    assert report.rows == [("nested triggers", 0, 1, 1, 1)]
    error = error_of(s, "EXEC sp_configure 'nested trigger', 0")
    assert error.number == 15123
    assert error.message == "The configuration option 'nested trigger' does not exist, or it may be an advanced option."
    assert error_of(s, "EXEC sp_configure N'nested triggers', 2").number == 15129
    run(s, "EXECUTE sys.sp_configure @configname = N'nested triggers', @configvalue = 0; RECONFIGURE WITH OVERRIDE")
    assert rows(s, "SELECT value, value_in_use FROM sys.configurations") == [(0, 0)]
    assert error_of(s, "EXEC sp_who").number == 50001


def test_a_lab_host_can_run_with_nested_triggers_off(db_path, s):
    """`python -m tests.lab server HOST --nested-triggers 0` (control.server): the server runs
    with the option off, configured and in use, as after sp_configure + RECONFIGURE."""
    db = sqlite3.connect(db_path)
    try:
        facts = server.set_facts(db, nested_triggers="0")
    finally:
        db.close()
    assert facts["nested_triggers"] == "0"
    assert rows(s, "SELECT value, value_in_use FROM sys.configurations") == [(0, 0)]
    run(s, counting("count_info", "event_schedule_info"))
    run(s, "DELETE FROM event WHERE event_id = 10")
    assert firings(s) == []


def test_nesting_beyond_32_levels_fails_the_statement_with_msg_217(s):
    """Nested triggers go 32 levels deep; beyond, Msg 217 "Maximum stored procedure, function,
    trigger, or view nesting level exceeded (limit 32)." and the whole statement is undone.
    Two triggers deleting from each other's table recurse indirectly (allowed with nested
    triggers on), even when no row is left to delete."""
    run(s, "CREATE TABLE ping (id int NOT NULL); CREATE TABLE pong (id int NOT NULL)")
    run(s, "INSERT INTO ping VALUES (1); INSERT INTO pong VALUES (1)")
    run(s, "CREATE TRIGGER ping_del ON ping AFTER DELETE AS DELETE FROM pong WHERE id IN (SELECT id FROM deleted)")
    run(s, "CREATE TRIGGER pong_del ON pong AFTER DELETE AS DELETE FROM ping WHERE id IN (SELECT id FROM deleted)")
    error = error_of(s, "DELETE FROM ping")
    assert (error.number, error.severity, error.message) == (
        217, 16, "Maximum stored procedure, function, trigger, or view nesting level exceeded (limit 32).")  # fmt: skip
    assert rows(s, "SELECT COUNT(*) FROM ping") == [(1,)] and rows(s, "SELECT COUNT(*) FROM pong") == [(1,)]
    run(s, "EXEC sp_configure 'nested triggers', 0; RECONFIGURE")
    assert run(s, "DELETE FROM ping") == [1]
    assert rows(s, "SELECT COUNT(*) FROM pong") == [(0,)]  # ping_del ran; pong_del, nested, did not


def test_truncate_table_fires_no_trigger(s, tmp_path):
    """TRUNCATE TABLE (Transact-SQL): "TRUNCATE TABLE cannot activate a trigger because the
    operation does not log individual row deletions"; a table with DELETE triggers may be
    truncated. Nothing is captured."""
    run(s, counting("count_history", "event_schedule"))
    assert run(s, "TRUNCATE TABLE event_schedule; SELECT COUNT(*) FROM event_schedule")[0].rows == [(0,)]
    assert firings(s) == []
    # event_schedule_delete did not run either: the detail rows stay
    assert rows(s, "SELECT COUNT(*) FROM event_schedule_info") == [(2,)]


def test_truncate_of_a_table_a_foreign_key_references_is_msg_4712(tmp_path):
    """TRUNCATE TABLE: "You cannot use TRUNCATE TABLE on tables that are referenced by a FOREIGN
    KEY constraint" (Msg 4712)."""
    path = tmp_path / "express.db"
    ds_schema.create_express(path, schema="fk_computer")
    engine = Engine(str(path))
    with_session(engine, SEED + HISTORY)
    s = engine.session()
    try:
        error = error_of(s, "TRUNCATE TABLE computer")
        assert error.number == 4712
        assert error.message == (
            "Cannot truncate table 'computer' because it is being referenced by a FOREIGN KEY constraint."
        )
        assert rows(s, "SELECT COUNT(*) FROM computer") != [(0,)]
    finally:
        s.close()


def test_a_disabled_trigger_does_not_fire(s):
    """DISABLE TRIGGER / ALTER TABLE ... DISABLE TRIGGER: "a disabled trigger does not fire";
    sys.triggers.is_disabled says so; ENABLE TRIGGER brings it back. ALL names every trigger of
    the table."""
    run(s, counting("count_info", "event_schedule_info"))
    run(s, "DISABLE TRIGGER dbo.count_info ON dbo.event_schedule_info")
    assert rows(s, "SELECT is_disabled FROM sys.triggers WHERE name = 'count_info'") == [(True,)]
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000023")
    assert firings(s) == []
    run(s, "ENABLE TRIGGER count_info ON event_schedule_info")
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000025")
    assert firings(s) == [("count_info", 1)]
    run(s, "ALTER TABLE event_schedule DISABLE TRIGGER ALL")
    assert rows(s, "SELECT name, is_disabled FROM sys.triggers ORDER BY name") == [
        ("count_info", False), ("event_delete", False), ("event_schedule_delete", True)]  # fmt: skip
    run(s, "INSERT INTO event_schedule_info VALUES (100000024, 1, 0, N'done', '2024-02-01 11:01:00')")
    run(s, "DELETE FROM event_schedule WHERE schedule_id = 100000024")  # its details stay: the DS trigger is off
    assert rows(s, "SELECT COUNT(*) FROM event_schedule_info WHERE schedule_id = 100000024") == [(1,)]
    run(s, "ALTER TABLE event_schedule ENABLE TRIGGER event_schedule_delete")
    assert rows(s, "SELECT COUNT(*) FROM sys.triggers WHERE is_disabled = 1") == [(0,)]
    error = error_of(s, "ALTER TABLE event DISABLE TRIGGER count_info")
    assert (error.number, error.message) == (
        4920, "ALTER TABLE failed because trigger 'count_info' does not belong to table 'event'.")  # fmt: skip
    error = error_of(s, "DISABLE TRIGGER nope ON event")
    assert (error.number, error.message) == (
        1088, 'Cannot find the object "nope" because it does not exist or you do not have permissions.')  # fmt: skip


def test_a_disabled_trigger_does_not_fire_for_the_simulated_aximport(s, db_path, tmp_path):
    """The simulated aximport deletes through firing.run_delete: the DS's triggers and any
    enabled trigger fire for it, a disabled one does not."""
    run(s, counting("count_info", "event_schedule_info"))
    run(s, "DISABLE TRIGGER count_info ON event_schedule_info")
    export = tmp_path / "global.bin"
    assert ax_tools.axexport(str(db_path), "Global", False, export, NO_FAULT, "axexport").exit_code == 0
    assert ax_tools.aximport(str(db_path), export, True, NO_FAULT, "aximport").exit_code == 0
    assert firings(s) == []
    run(s, "ENABLE TRIGGER count_info ON event_schedule_info")
    assert ax_tools.aximport(str(db_path), export, True, NO_FAULT, "aximport").exit_code == 0
    assert firings(s) == [("count_info", 0)]  # the history of Global went with the first import


def test_sp_settriggerorder_first_runs_that_trigger_first(s):
    """sp_settriggerorder @order = 'First': that AFTER trigger fires before the table's others."""
    run(s, "CREATE TABLE seen (trigger_name nvarchar(50) NOT NULL, rows_left int NOT NULL)")
    run(s, "CREATE TRIGGER site_own ON event_schedule_info AFTER DELETE AS "
        "INSERT INTO seen SELECT N'site_own', COUNT(*) FROM firings")  # fmt: skip
    run(s, counting("ours", "event_schedule_info"))
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000023")
    assert rows(s, "SELECT rows_left FROM seen") == [(0,)]  # site_own ran before ours (creation order)
    run(s, "EXEC sp_settriggerorder @triggername = N'dbo.ours', @order = N'First', @stmttype = N'DELETE'")
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000024")
    assert rows(s, "SELECT rows_left FROM seen ORDER BY rows_left") == [(0,), (2,)]  # now ours ran first
    first = "SELECT t.name FROM sys.triggers AS t INNER JOIN sys.trigger_events AS e ON e.object_id = t.object_id "
    assert rows(s, first + "WHERE e.type_desc = N'DELETE' AND e.is_first = 1") == [("ours",)]
    # SQL Server refuses a second First: Msg 15130, severity 16 (docs, "Database engine events and
    # errors 15000 to 15999": "There already exists a '%s' trigger for '%s'.")
    error = error_of(s, "EXEC sp_settriggerorder N'site_own', N'First', N'DELETE'")
    assert (error.number, error.severity) == (15130, 16)
    assert error.message == "There already exists a 'First' trigger for 'DELETE'."


def test_set_rowcount_0_in_a_trigger_body_is_accepted(s):
    """SET ROWCOUNT 0 at the top of a trigger lifts a session's row limit; the lab refuses SET
    ROWCOUNT in a session, so no limit is ever set and the statement has nothing to lift."""
    run(s, "CREATE TRIGGER ours ON event_schedule_info AFTER DELETE AS BEGIN SET NOCOUNT ON; SET ROWCOUNT 0; "
        "INSERT INTO firings SELECT N'ours', COUNT(*) FROM deleted END")  # fmt: skip
    run(s, "DELETE FROM event_schedule_info")
    assert firings(s) == [("ours", 2)]
    assert error_of(s, "SET ROWCOUNT 5").number == 50001


@pytest.mark.parametrize(
    "body",
    [
        "INSERT INTO lob_copy (id, notes) SELECT id, notes FROM deleted",
        "INSERT INTO lob_copy SELECT * FROM deleted",
        "DELETE FROM lob_copy WHERE id IN (SELECT d.id FROM deleted AS d WHERE d.notes IS NULL)",
    ],
)
def test_an_after_trigger_may_not_read_text_ntext_or_image_from_deleted(s, body):
    """Msg 311 "Cannot use text, ntext, or image columns in the 'inserted' and 'deleted'
    tables." (severity 16), raised by CREATE TRIGGER for an AFTER trigger; the trigger is not
    created. Its other columns may be read."""
    run(s, "CREATE TABLE lob (id int NOT NULL PRIMARY KEY, notes ntext NULL, picture image NULL)")
    run(s, "CREATE TABLE lob_copy (id int NOT NULL, notes ntext NULL, picture image NULL)")
    error = error_of(s, f"CREATE TRIGGER keep_lob ON lob AFTER DELETE AS {body}")
    assert (error.number, error.severity) == (311, 16)
    assert error.message == "Cannot use text, ntext, or image columns in the 'inserted' and 'deleted' tables."
    assert rows(s, "SELECT COUNT(*) FROM sys.triggers WHERE name = 'keep_lob'") == [(0,)]
    readable = "CREATE TRIGGER keep_lob ON lob AFTER DELETE AS INSERT INTO lob_copy (id) SELECT id FROM deleted"
    assert run(s, readable) == []
