"""CREATE TRIGGER ... AFTER DELETE through the interpreter: a native SQLite trigger that fires
for deletes through the interpreter and through the simulated aximport's plain connection."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3

import pytest

from tests.lab import ax_tools, ds_schema
from tests.lab.tsql import Engine, SqlError, firing
from tests.lab_tests.test_tsql import HISTORY, SEED, error_of, rows, run, with_session

BACKUP = """
SELECT * INTO ds_replication_backup_info FROM event_schedule_info WHERE 1 = 0;
CREATE TABLE ds_replication_archive_info (schedule_id int NOT NULL, info_id int NOT NULL,
  status_code int NOT NULL, message nvarchar(500) NULL, logged_at datetime NOT NULL,
  ds_replication_reason nvarchar(100) NOT NULL, ds_replication_archived_at datetime NOT NULL);
"""
# The shapes the package emits: archive a backed-up row that a different version replaces
# (NULL-safe key match, INTERSECT compares the values), then back up the deleted rows.
KEEP = """CREATE TRIGGER [dbo].[ds_replication_keep_info] ON [dbo].[event_schedule_info] AFTER DELETE AS
BEGIN
SET NOCOUNT ON;
INSERT INTO [dbo].[ds_replication_archive_info] ([schedule_id], [info_id], [status_code], [message], [logged_at],
  [ds_replication_reason], [ds_replication_archived_at])
SELECT b.[schedule_id], b.[info_id], b.[status_code], b.[message], b.[logged_at], N'replaced by a newer copy', GETDATE()
FROM [dbo].[ds_replication_backup_info] AS b
WHERE EXISTS (SELECT 1 FROM deleted AS d WHERE d.[schedule_id] = b.[schedule_id]
    AND (d.[info_id] = b.[info_id] OR (d.[info_id] IS NULL AND b.[info_id] IS NULL)))
  AND NOT EXISTS (SELECT 1 FROM deleted AS d WHERE d.[schedule_id] = b.[schedule_id] AND d.[info_id] = b.[info_id]
    AND EXISTS (SELECT d.[status_code], d.[message] INTERSECT SELECT b.[status_code], b.[message]));
DELETE b FROM [dbo].[ds_replication_backup_info] AS b
WHERE EXISTS (SELECT 1 FROM deleted AS d WHERE d.[schedule_id] = b.[schedule_id] AND d.[info_id] = b.[info_id]);
INSERT INTO [dbo].[ds_replication_backup_info] ([schedule_id], [info_id], [status_code], [message], [logged_at])
SELECT d.[schedule_id], d.[info_id], d.[status_code], d.[message], d.[logged_at] FROM deleted AS d;
END"""
NO_FAULT = lambda name, line: False  # noqa: E731


@pytest.fixture
def s(db_path):
    engine = Engine(str(db_path))
    with_session(engine, SEED + HISTORY + BACKUP)
    session = engine.session()
    yield session
    session.close()


def backup(s) -> list[tuple]:
    return rows(s, "SELECT schedule_id, info_id, status_code, message FROM ds_replication_backup_info ORDER BY 1, 2")


def archive(s) -> list[tuple]:
    return rows(s, "SELECT schedule_id, info_id, status_code, message, ds_replication_reason FROM "
                "ds_replication_archive_info ORDER BY 1, 2")  # fmt: skip


def test_trigger_backs_up_rows_deleted_through_the_cascade_and_archives_replaced_copies(s):
    assert run(s, KEEP) == []
    run(s, "DELETE FROM event WHERE event_id = 12")  # event -> event_schedule -> event_schedule_info
    assert backup(s) == [(100000025, 1, 5, None)]
    assert archive(s) == []
    # The same key comes back with other values and is deleted again: the old copy is archived.
    run(s, "INSERT INTO event (event_id, folder_id, name, modified) VALUES (12, 2, N'Local job', '2024-01-04');"
        "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) VALUES "
        "(100000025, 5000001, 12, N'ok', '2024-03-01');"
        "INSERT INTO event_schedule_info VALUES (100000025, 1, 0, N'second run', '2024-03-01 00:00:01')")  # fmt: skip
    before = dt.datetime.now() - dt.timedelta(milliseconds=5)
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000025")
    assert backup(s) == [(100000025, 1, 0, "second run")]
    assert archive(s) == [(100000025, 1, 5, None, "replaced by a newer copy")]
    archived_at = rows(s, "SELECT ds_replication_archived_at FROM ds_replication_archive_info")[0][0]
    assert before <= archived_at <= dt.datetime.now()  # GETDATE() when the trigger ran, not when created
    # Deleted again with the same values (NULL message included): nothing new is archived.
    run(s, "INSERT INTO event_schedule_info SELECT * FROM ds_replication_backup_info")
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000025")
    assert len(archive(s)) == 1 and backup(s) == [(100000025, 1, 0, "second run")]


def test_trigger_fires_for_the_simulated_aximport(s, db_path, tmp_path):
    assert run(s, KEEP) == []
    kept = rows(s, "SELECT i.schedule_id, i.info_id, i.status_code, i.message FROM event_schedule_info AS i "
                "JOIN event_schedule AS e ON e.schedule_id = i.schedule_id JOIN event AS j ON j.event_id = e.event_id "
                "WHERE j.folder_id = 1 ORDER BY 1, 2")  # fmt: skip
    assert kept, "the seed must have history in folder Global"
    export = tmp_path / "global.bin"
    assert ax_tools.axexport(str(db_path), "Global", False, export, NO_FAULT, "axexport").exit_code == 0
    result = ax_tools.aximport(str(db_path), export, True, NO_FAULT, "aximport")
    assert result.exit_code == 0, result.output
    assert backup(s) == kept
    assert rows(s, "SELECT COUNT(*) FROM event_schedule_info WHERE schedule_id IN (100000023, 100000024)") == [(0,)]


def test_a_failing_trigger_fails_the_delete_and_keeps_the_rows(s, db_path, tmp_path):
    assert run(s, KEEP) == []
    count = "SELECT COUNT(*) FROM event_schedule_info"
    assert rows(s, count) == [(2,)]
    run(s, "DROP TABLE ds_replication_archive_info")
    error = error_of(s, "DELETE FROM event WHERE event_id = 10")
    assert (error.number, error.message) == (208, "Invalid object name 'ds_replication_archive_info'.")
    assert rows(s, "SELECT COUNT(*) FROM event WHERE event_id = 10") == [(1,)]
    assert rows(s, count) == [(2,)]
    export = tmp_path / "global.bin"
    assert ax_tools.axexport(str(db_path), "Global", False, export, NO_FAULT, "axexport").exit_code == 0
    result = ax_tools.aximport(str(db_path), export, True, NO_FAULT, "aximport")
    assert result.exit_code == 1 and "no such table" in result.output
    assert rows(s, count) == [(2,)] and backup(s) == []
    # A NOT NULL column of the backup that the trigger leaves empty: 515, nothing deleted.
    run(
        s,
        "DROP TRIGGER ds_replication_keep_info; ALTER TABLE ds_replication_backup_info ADD note int NOT NULL DEFAULT 1",
    )
    run(s, "CREATE TRIGGER keep ON event_schedule_info FOR DELETE AS "
        "INSERT INTO ds_replication_backup_info (schedule_id, info_id, status_code, message, logged_at, note) "
        "SELECT d.schedule_id, d.info_id, d.status_code, d.message, d.logged_at, NULL FROM deleted AS d")  # fmt: skip
    # Msg 515, severity 16, state 2, SQL Server's words, also inside a trigger ("Database Engine
    # events and errors": 515), whoever deleted: the interpreter, a DS tool on its own connection
    null = (515, 16, 2, "Cannot insert the value NULL into column 'note', table "
            "'express.dbo.ds_replication_backup_info'; column does not allow nulls. INSERT fails.")  # fmt: skip
    error = error_of(s, "DELETE FROM event_schedule_info")
    assert (error.number, error.severity, error.state, error.message) == null
    assert rows(s, count) == [(2,)]
    with ds_schema.connect(db_path) as db:
        with pytest.raises(SqlError) as raised:
            firing.run_delete(db, "event_schedule_info", "DELETE FROM event_schedule_info")
        assert (raised.value.number, raised.value.severity, raised.value.state, raised.value.message) == null
        # a plain DELETE that would skip the statement triggers is refused, never passed silently
        with pytest.raises(sqlite3.IntegrityError, match=r"outside tsql/firing\.run_delete"):
            db.execute("DELETE FROM event_schedule_info")
        assert db.execute(count).fetchone() == (2,)
    result = ax_tools.aximport(str(db_path), export, True, NO_FAULT, "aximport")
    assert (result.exit_code, result.output) == (1, f"axImport: database error: {null[3]}; nothing imported.\r\n")
    assert rows(s, count) == [(2,)]


def test_create_trigger_forms_and_catalog(s):
    assert run(s, "/* keep */ CREATE TRIGGER keep_plain ON dbo.event_schedule_info FOR DELETE AS "
               "INSERT INTO ds_replication_backup_info SELECT * FROM deleted") == []  # fmt: skip
    block = (
        "CREATE TRIGGER [dbo].[keep_block] ON [event_schedule] AFTER DELETE AS BEGIN "
        "DELETE FROM ds_replication_backup_info WHERE schedule_id = (SELECT schedule_id FROM deleted) END"
    )
    assert run(s, block) == []
    names = rows(s, "SELECT t.name, o.name, t.type, t.is_disabled, t.is_instead_of_trigger FROM sys.triggers AS t "
                 "JOIN sys.tables AS o ON o.object_id = t.parent_id ORDER BY t.name")  # fmt: skip
    assert names == [
        ("event_delete", "event", "TR", False, False),
        ("event_schedule_delete", "event_schedule", "TR", False, False),
        ("keep_block", "event_schedule", "TR", False, False),
        ("keep_plain", "event_schedule_info", "TR", False, False),
    ]
    assert rows(s, "SELECT COUNT(*) FROM sys.objects WHERE type = 'TR'") == [(4,)]
    ids = rows(s, "SELECT OBJECT_ID(N'dbo.keep_plain', N'TR'), OBJECT_ID('keep_plain'), OBJECT_ID('keep_plain', 'U')")
    assert ids[0][0] is not None and ids[0][0] == ids[0][1] and ids[0][2] is None
    run(s, "DELETE FROM event_schedule_info WHERE schedule_id = 100000023")
    assert backup(s) == [(100000023, 1, 0, "done")]
    run(s, "DELETE FROM event_schedule WHERE schedule_id = 100000023")  # keep_block removes the backup row
    assert backup(s) == []
    assert run(s, "DROP TRIGGER dbo.keep_plain") == []
    assert rows(s, "SELECT OBJECT_ID(N'dbo.keep_plain', N'TR')") == [(None,)]


def test_create_trigger_errors(s):
    assert run(s, KEEP) == []
    assert error_of(s, KEEP).number == 2714
    assert error_of(s, KEEP.replace("ds_replication_keep_info", "event")).number == 2714
    error = error_of(s, "SET NOCOUNT ON; " + KEEP.replace("keep_info", "other"))
    assert (error.number, error.message) == (111, "'CREATE TRIGGER' must be the first statement in a query batch.")
    assert rows(s, "SELECT COUNT(*) FROM sys.triggers WHERE name = 'ds_replication_other'") == [(0,)]
    error = error_of(s, "DROP TRIGGER dbo.nope")
    assert (error.number, error.message) == (
        3701, "Cannot drop the trigger 'nope', because it does not exist or you do not have permission.")  # fmt: skip
    assert error_of(s, "CREATE TRIGGER t ON nope AFTER DELETE AS DELETE FROM event WHERE 1 = 0").number == 208
    bad_column = "CREATE TRIGGER t ON event AFTER DELETE AS DELETE FROM computer WHERE nope = (SELECT 1 FROM deleted)"
    assert error_of(s, bad_column).number == 207


@pytest.mark.parametrize(
    "header, body, construct",
    [
        ("AFTER INSERT", "DELETE FROM computer WHERE 1 = 0", "triggers AFTER INSERT"),
        ("INSTEAD OF DELETE", "DELETE FROM computer WHERE 1 = 0", "INSTEAD"),
        ("AFTER DELETE", "IF 1 = 1 DELETE FROM computer WHERE 1 = 0", "IF or nested"),
        ("AFTER DELETE", "UPDATE computer SET name = N'x' WHERE 1 = 0", "UPDATE in a trigger body"),
        ("AFTER DELETE", "DELETE FROM computer WHERE name = (SELECT name + N'x' FROM deleted)", "'+'"),
        ("AFTER DELETE", "DELETE FROM computer WHERE computer_id = (SELECT 1 / 0 FROM deleted)", "'/'"),
        ("AFTER DELETE", "DELETE FROM computer WHERE name IN (SELECT name FROM sys.tables)", "catalog views"),
        ("AFTER DELETE", "DELETE FROM computer WHERE computer_id = @@ROWCOUNT", "variables"),
    ],
)
def test_trigger_constructs_outside_the_subset_are_refused(s, header, body, construct):
    error = error_of(s, f"CREATE TRIGGER t ON computer {header} AS {body}")
    assert error.number == 50001 and construct in error.message, error.message
    assert rows(s, "SELECT COUNT(*) FROM sys.triggers WHERE name = 't'") == [(0,)]


def test_created_trigger_is_gone_after_a_rollback(s):
    run(s, "BEGIN TRAN")
    assert run(s, KEEP) == []
    assert rows(s, "SELECT COUNT(*) FROM sys.triggers WHERE name = 'ds_replication_keep_info'") == [(1,)]
    run(s, "ROLLBACK")
    assert rows(s, "SELECT COUNT(*) FROM sys.triggers WHERE name = 'ds_replication_keep_info'") == [(0,)]
    run(s, "DELETE FROM event_schedule_info")
    assert backup(s) == []


def test_explicit_identity_value_fails_when_the_trigger_runs(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path, identity=True)
    engine = Engine(str(path))
    with_session(engine, SEED)
    s = engine.session()
    try:
        run(s, "SELECT * INTO history_backup FROM event_schedule WHERE 1 = 0")  # copies the IDENTITY property
        run(s, "SET IDENTITY_INSERT event_schedule ON; INSERT INTO event_schedule (schedule_id, computer_id, "
            "event_id, status, start_time) VALUES (7, 5000001, 10, N'ok', '2024-01-01'); "
            "SET IDENTITY_INSERT event_schedule OFF")  # fmt: skip
        assert run(s, "CREATE TRIGGER keep ON event_schedule AFTER DELETE AS INSERT INTO history_backup "
                   "(schedule_id, computer_id, event_id, status, start_time) SELECT schedule_id, computer_id, "
                   "event_id, status, start_time FROM deleted") == []  # fmt: skip
        assert error_of(s, "DELETE FROM event_schedule").number == 544
        run(s, "DROP TRIGGER keep")
        assert run(s, "CREATE TRIGGER keep ON event_schedule AFTER DELETE AS INSERT INTO history_backup "
                   "(computer_id, event_id, status, start_time) SELECT computer_id, event_id, status, start_time "
                   "FROM deleted") == []  # fmt: skip
        assert run(s, "DELETE FROM event_schedule") == [1]
        assert rows(s, "SELECT schedule_id, computer_id FROM history_backup") == [(100000000, 5000001)]
    finally:
        s.close()


def test_intersect_of_from_less_selects_treats_nulls_as_equal(s):
    query = (
        "SELECT i.schedule_id FROM event_schedule_info AS i WHERE EXISTS "
        "(SELECT i.message, i.status_code INTERSECT SELECT {}, {}) ORDER BY 1"
    )
    assert rows(s, query.format("NULL", "5")) == [(100000025,)]
    assert rows(s, query.format("N'done'", "0")) == [(100000023,)]
    assert rows(s, query.format("N'done'", "NULL")) == []
    assert rows(s, "SELECT 1 WHERE EXISTS (SELECT NULL INTERSECT SELECT NULL)") == [(1,)]
    assert rows(s, "SELECT 1 AS one WHERE 1 = 0") == []


def test_trigger_looks_the_backup_up_by_its_index_not_by_a_scan_per_deleted_row(s, db_path):
    """A scan of the backup per deleted row, or of `deleted` per backup row, makes an import of N
    rows cost N² (a million-row history could not be captured). Every statement of the body must
    reach the backup through its key index, and `deleted` through the index firing.py makes on
    the columns the body matches (failed before: SCAN b for both statements)."""
    run(s, "CREATE INDEX ds_replication_backup_info_key ON ds_replication_backup_info (schedule_id, info_id)")
    assert run(s, KEEP) == []
    db = ds_schema.connect(db_path)
    try:
        body, indexes = db.execute(
            "SELECT body, indexes FROM lab_triggers WHERE name = 'ds_replication_keep_info'"
        ).fetchone()
        staged = firing.staged_table("event_schedule_info")
        db.execute(f"CREATE TEMP TABLE {firing.DELETED} AS SELECT * FROM {staged} WHERE 0")  # as firing.py does
        for n, columns in enumerate(json.loads(indexes)):
            db.execute(f"CREATE INDEX temp.deleted_{n} ON {firing.DELETED} ({', '.join(columns)})")
        # outside a trigger program: RAISE as NULL
        statements = [re.sub(r"RAISE\(ABORT, '(?:[^']|'')*'\)", "NULL", sql) for sql, _ in json.loads(body)]
        plans = [[row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)] for sql in statements]
    finally:
        db.close()
    assert len(plans) == 3
    scans = [step for plan in plans for step in plan if re.match(r"SCAN (b|ds_replication_backup_info)\b", step)]
    assert scans == [], plans
    assert all(any("USING" in step and "ds_replication_backup_info_key" in step for step in plan) for plan in plans[:2])
    correlated_scans = [
        step for plan in plans for i, step in enumerate(plan) if step == "SCAN d" and "CORRELATED" in plan[i - 1]
    ]
    assert correlated_scans == [], plans
    # and it still does what it did: a deleted row replaces its copy, a changed copy is archived
    run(s, "DELETE FROM event WHERE event_id = 12")
    assert backup(s) == [(100000025, 1, 5, None)]
