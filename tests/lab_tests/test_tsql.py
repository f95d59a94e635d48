"""The lab's T-SQL interpreter through Engine/Session only: statements, types, errors, IDENTITY."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.lab import ds_schema
from tests.lab.tsql import Engine, ResultSet, SqlError

SEED = """
INSERT INTO event_folder (folder_id, parent_id, name) VALUES (1, NULL, N'Global'), (2, NULL, N'Local');
INSERT INTO event (event_id, folder_id, name, description, modified) VALUES
  (10, 1, N'Firefox', NULL, '2024-01-02 03:04:05.678'), (11, 1, N'Office', N'desc', '2024-01-03'),
  (12, 2, N'Local job', NULL, '2024-01-04');
INSERT INTO computer (computer_id, name) VALUES (5000001, N'STAF-VMWARE');
"""
HISTORY = """
INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) VALUES
  (100000023, 5000001, 10, N'ok', '2024-02-01 10:00:00'), (100000024, 5000001, 11, N'ok', '2024-02-01 11:00:00'),
  (100000025, 5000001, 12, N'failed', '2024-02-01 12:00:00');
INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at) VALUES
  (100000023, 1, 0, N'done', '2024-02-01 10:01:00'), (100000025, 1, 5, NULL, '2024-02-01 12:01:00');
"""


def run(session, batch: str) -> list:
    return list(session.execute(batch))


def rows(session, batch: str) -> list[tuple]:
    out = run(session, batch)
    errors = [o for o in out if isinstance(o, SqlError)]
    assert not errors, errors[0].message
    return [r for o in out if isinstance(o, ResultSet) for r in o.rows]


def error_of(session, batch: str) -> SqlError:
    errors = [o for o in run(session, batch) if isinstance(o, SqlError)]
    assert errors, "no error"
    return errors[0]


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    engine = Engine(str(path))
    with_session(engine, SEED + HISTORY)
    return engine


@pytest.fixture
def identity_engine(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path, identity=True)
    engine = Engine(str(path))
    with_session(engine, SEED)
    return engine


def with_session(engine, batch: str) -> list:
    session = engine.session()
    try:
        out = run(session, batch)
        assert not [o for o in out if isinstance(o, SqlError)], out
        return out
    finally:
        session.close()


@pytest.fixture
def s(engine):
    session = engine.session()
    yield session
    session.close()


@pytest.fixture
def si(identity_engine):
    session = identity_engine.session()
    yield session
    session.close()


# -- connect, options, results -------------------------------------------------------------------


def test_connect_statements_and_server_values(s):
    out = run(
        s,
        "SET TEXTSIZE 2147483647; SET ANSI_NULLS ON; SET QUOTED_IDENTIFIER ON; SET ANSI_WARNINGS ON\n"
        "SET ANSI_PADDING ON; SET CONCAT_NULL_YIELDS_NULL ON; SET ARITHABORT ON; SET DATEFORMAT ymd;\n"
        "SET LANGUAGE us_english; SET LOCK_TIMEOUT -1; SET IMPLICIT_TRANSACTIONS OFF\n"
        "select @@spid; SELECT @@VERSION; SELECT 1",
    )
    assert [type(o) for o in out] == [ResultSet] * 3
    assert isinstance(out[0].rows[0][0], int) and out[0].columns[0].type == "int"
    assert "SQL Server" in out[1].rows[0][0] and out[1].columns[0].type == "nvarchar"
    assert out[2].rows == [(1,)]


def test_result_types_follow_the_catalog(s):
    (result,) = [o for o in run(s, "SELECT e.event_id, e.name, e.description, e.modified FROM event AS e") if o]
    assert [(c.name, c.type, c.nullable, c.size) for c in result.columns] == [
        ("event_id", "int", False, None),
        ("name", "nvarchar", False, 255),
        ("description", "nvarchar", True, 1000),
        ("modified", "datetime", False, None),
    ]
    assert result.rows[0] == (10, "Firefox", None, dt.datetime(2024, 1, 2, 3, 4, 5, 678000))
    (typed,) = run(
        s, "SELECT COUNT(*), CAST(1 AS bit), N'x' + name AS n, NULL AS nothing FROM event WHERE event_id = 10"
    )
    assert [c.type for c in typed.columns] == ["int", "bit", "nvarchar", "int"]
    assert typed.rows == [(1, True, "xFirefox", None)]
    assert typed.columns[0].name == ""  # SQL Server leaves unnamed expressions unnamed


def test_nocount_controls_row_counts(s):
    assert run(s, "UPDATE event SET description = N'd' WHERE folder_id = 1") == [2]
    assert run(s, "SET NOCOUNT ON; UPDATE event SET description = N'e' WHERE folder_id = 1") == []


# -- queries --------------------------------------------------------------------------------------


def test_select_features(s):
    assert rows(s, "SELECT TOP 2 event_id FROM dbo.event ORDER BY event_id DESC") == [(12,), (11,)]
    assert rows(s, "SELECT DISTINCT folder_id FROM [express].[dbo].[event] ORDER BY folder_id") == [(1,), (2,)]
    assert rows(
        s,
        "SELECT f.name, COUNT(*) AS jobs FROM event AS e INNER JOIN event_folder AS f ON f.folder_id = e.folder_id "
        "GROUP BY f.name HAVING COUNT(*) > 1",
    ) == [("Global", 2)]
    assert rows(
        s,
        "SELECT e.event_id, s.schedule_id FROM event e LEFT JOIN event_schedule s ON s.event_id = e.event_id "
        "AND s.status = 'failed' ORDER BY e.event_id",
    ) == [(10, None), (11, None), (12, 100000025)]
    assert rows(s, "SELECT event_id FROM event WHERE event_id IN (10, 12) AND name LIKE N'F%'") == [(10,)]
    assert (
        rows(
            s,
            "SELECT event_id FROM event e WHERE NOT EXISTS "
            "(SELECT 1 FROM event_schedule s WHERE s.event_id = e.event_id)",
        )
        == []
    )
    assert rows(s, "SELECT COUNT(DISTINCT folder_id), SUM(event_id), MIN(name), MAX(modified) FROM event") == [
        (2, 33, "Firefox", dt.datetime(2024, 1, 4))
    ]
    assert rows(
        s,
        "SELECT ISNULL(description, N'-'), COALESCE(description, name), CASE WHEN folder_id = 1 THEN 'g' ELSE 'l' END, "
        "LEN(name), UPPER(name), LOWER(name) FROM event WHERE event_id BETWEEN 11 AND 12 AND description IS NULL",
    ) == [("-", "Local job", "l", 9, "LOCAL JOB", "local job")]
    assert rows(
        s,
        "SELECT CAST('12' AS int), CONVERT(nvarchar(10), 42), CAST('2024-05-06' AS datetime), "
        "CONVERT(varchar(19), modified, 120) FROM event WHERE event_id = 10",
    ) == [(12, "42", dt.datetime(2024, 5, 6), "2024-01-02 03:04:05")]
    assert rows(s, "SELECT event_id FROM event UNION SELECT event_id FROM event_schedule ORDER BY 1") == [
        (10,), (11,), (12,)
    ]  # fmt: skip
    assert rows(s, "SELECT event_id FROM event EXCEPT SELECT event_id FROM event WHERE folder_id = 1") == [(12,)]
    assert rows(s, "SELECT event_id FROM event INTERSECT SELECT event_id FROM event WHERE folder_id = 2") == [(12,)]
    assert rows(s, "SELECT 7 / 2, 7 % 3, -7 / 2") == [(3, 1, -3)]
    assert isinstance(rows(s, "SELECT GETDATE(), GETUTCDATE()")[0][0], dt.datetime)


def test_comments_quoting_and_case(s):
    batch = """/* block
    comment */ select [event_id] -- the job
    FROM "EVENT" where NAME = N'Firefox' ; select 'it''s' AS [odd name]"""
    assert rows(s, batch) == [(10,), ("it's",)]


# -- variables and control flow ------------------------------------------------------------------


def test_variables_rowcount_and_error(s):
    assert rows(
        s,
        "DECLARE @n int = 0, @name nvarchar(4); DECLARE @when datetime\n"
        "SELECT @n = COUNT(*) FROM event WHERE folder_id = 1\n"
        "SET @name = N'abcdef'; SET @when = '2024-01-01'\n"
        "UPDATE event SET description = @name WHERE event_id > @n\n"
        "SELECT @n AS n, @name AS name, @@ROWCOUNT AS changed, @when AS w, @@TRANCOUNT, @@ERROR",
    ) == [(2, "abcd", 3, dt.datetime(2024, 1, 1), 0, 0)]
    out = run(s, "SELECT 1/0; SELECT @@ERROR")
    assert isinstance(out[0], SqlError) and out[1].rows == [(8134,)]


def test_undeclared_variable_stops_the_batch_before_it_runs(s):
    out = run(s, "UPDATE event SET description = N'x'; SELECT @nope")
    assert len(out) == 1 and out[0].number == 137
    assert rows(s, "SELECT COUNT(*) FROM event WHERE description = N'x'") == [(0,)]


def test_if_else_blocks_object_id_and_raiserror(s):
    batch = """
    IF OBJECT_ID(N'dbo.event', N'U') IS NOT NULL
        BEGIN
            SELECT 'yes'
        END
    ELSE
        SELECT 'no'
    IF OBJECT_ID(N'missing') IS NULL SELECT 'missing' ELSE BEGIN SELECT 'there' END
    IF NOT EXISTS (SELECT * FROM event WHERE event_id = 99) BEGIN SELECT 'none'; END;
    DECLARE @c int; SET @c = 3
    IF @c > 2 SELECT 'big'
    """
    assert rows(s, batch) == [("yes",), ("missing",), ("none",), ("big",)]
    out = run(s, "DECLARE @n int = 7; RAISERROR(N'bad %d of %s', 16, 1, @n, N'job'); SELECT 'after'")
    assert (out[0].number, out[0].severity, out[0].message) == (50000, 16, "bad 7 of job")
    assert out[1].rows == [("after",)]
    assert rows(s, "RAISERROR('just info', 10, 1); SELECT 1") == [(1,)]
    assert rows(s, "SELECT 1; RETURN; SELECT 2") == [(1,)]


# -- errors ---------------------------------------------------------------------------------------


def test_errors_with_sql_server_numbers(s):
    assert error_of(s, "SELECT * FROM nope").message == "Invalid object name 'nope'."
    assert error_of(s, "SELECT nope FROM event").message == "Invalid column name 'nope'."
    e = error_of(s, "SELECT FROM WHERE")
    assert e.number == 102 and e.message.startswith("Incorrect syntax near")
    e = error_of(s, "INSERT INTO event (event_id, folder_id, name, modified) VALUES (10, 1, N'dup', GETDATE())")
    assert e.number == 2627
    assert e.message == (
        "Violation of PRIMARY KEY constraint 'PK_event'. Cannot insert duplicate key in object 'dbo.event'. "
        "The duplicate key value is (10)."
    )
    e = error_of(s, "INSERT INTO event (event_id, folder_id, name, modified) VALUES (13, 1, NULL, GETDATE())")
    # Msg 515, severity 16, state 2; "INSERT fails." / "UPDATE fails." ("Database Engine events and errors")
    assert (e.number, e.severity, e.state, e.message) == (515, 16, 2, "Cannot insert the value NULL into column "
            "'name', table 'express.dbo.event'; column does not allow nulls. INSERT fails.")  # fmt: skip
    e = error_of(s, "UPDATE event SET name = NULL WHERE event_id = 10")
    assert (e.number, e.state, e.message) == (515, 2, "Cannot insert the value NULL into column 'name', table "
            "'express.dbo.event'; column does not allow nulls. UPDATE fails.")  # fmt: skip
    assert error_of(s, "SELECT 1 / 0").number == 8134
    e = error_of(s, "USE master")
    assert (e.number, e.message.split(" Make")[0]) == (911, "Database 'master' does not exist.")
    e = error_of(s, "DROP TABLE nope")
    assert e.message == "Cannot drop the table 'nope', because it does not exist or you do not have permission."
    assert error_of(s, "SELECT * INTO event FROM event").message == (
        "There is already an object named 'event' in the database."
    )


def test_insert_select_with_a_duplicate_inserts_nothing(s):
    run(s, "CREATE TABLE copy_of_event (event_id int NOT NULL PRIMARY KEY, name nvarchar(255) NULL)")
    run(s, "INSERT INTO copy_of_event (event_id, name) VALUES (11, N'already')")
    e = error_of(s, "INSERT INTO copy_of_event (event_id, name) SELECT event_id, name FROM event")
    assert e.number == 2627 and e.message.endswith("The duplicate key value is (11).")
    assert rows(s, "SELECT COUNT(*) FROM copy_of_event") == [(1,)]


def test_statement_error_continues_the_batch_without_xact_abort(s):
    out = run(
        s,
        "BEGIN TRAN; UPDATE event SET description = N'1' WHERE event_id = 10; SELECT 1/0; "
        "UPDATE event SET description = N'2' WHERE event_id = 11; COMMIT",
    )
    assert [type(o).__name__ for o in out] == ["int", "SqlError", "int"]
    assert s.trancount == 0
    assert rows(s, "SELECT description FROM event WHERE event_id IN (10, 11) ORDER BY event_id") == [("1",), ("2",)]


def test_xact_abort_rolls_back_and_ends_the_batch(s):
    out = run(
        s,
        "SET XACT_ABORT ON; BEGIN TRAN; DELETE FROM event_schedule; "
        "INSERT INTO event (event_id, folder_id, name, modified) VALUES (10, 1, N'dup', GETDATE()); SELECT 'never'",
    )
    assert [type(o).__name__ for o in out] == ["int", "SqlError"]
    assert s.trancount == 0
    assert rows(s, "SELECT COUNT(*) FROM event_schedule") == [(3,)]


def test_syntax_error_runs_nothing(s):
    out = run(s, "DELETE FROM event_schedule; SELECT FROM (")
    assert len(out) == 1 and out[0].number == 102
    assert rows(s, "SELECT COUNT(*) FROM event_schedule") == [(3,)]


@pytest.mark.parametrize(
    "batch, construct",
    [
        ("MERGE INTO event AS t USING event AS s ON t.event_id = s.event_id WHEN MATCHED THEN DELETE;", "MERGE"),
        ("WITH x AS (SELECT 1 AS a) SELECT * FROM x", "WITH"),
        ("EXEC sp_executesql N'SELECT 1'", "EXEC"),
        ("SELECT STRING_AGG(name, ',') FROM event", "STRING_AGG"),
        ("DROP TABLE IF EXISTS event_schedule_backup", "DROP TABLE IF EXISTS"),
        ("SELECT 1\nGO\nSELECT 2", "GO"),
        ("SELECT * FROM #work", "temporary tables"),
        ("SELECT name FROM event WITH (NOLOCK)", "table hints"),
        ("SELECT ROW_NUMBER() OVER (ORDER BY event_id) FROM event", "OVER"),
        ("SELECT SCOPE_IDENTITY()", "SCOPE_IDENTITY"),
        ("SELECT @@IDENTITY", "@@IDENTITY"),
        ("WHILE 1 = 0 SELECT 1", "WHILE"),
        ("BEGIN TRY SELECT 1 END TRY BEGIN CATCH SELECT 2 END CATCH", "BEGIN TRY"),
        ("SELECT TOP 10 PERCENT name FROM event", "PERCENT"),
        ("CREATE VIEW v AS SELECT 1 AS a", "CREATE"),
        ("SELECT * FROM sys.sql_modules", "sys.sql_modules"),
        ("SET ROWCOUNT 5", "SET ROWCOUNT"),
    ],
)
def test_unsupported_constructs_are_refused_by_name(s, batch, construct):
    out = run(s, "DELETE FROM event_schedule_info; " + batch)
    assert len(out) == 1, out  # nothing ran: the batch is refused as a whole
    assert out[0].message.startswith("DS lab: unsupported T-SQL: ")
    assert construct.lower() in out[0].message.lower()


def test_convert_of_a_datetime_needs_an_iso_style(s):
    e = error_of(s, "SELECT CONVERT(nvarchar(30), modified) FROM event")
    assert e.message.startswith("DS lab: unsupported T-SQL: CONVERT of a datetime to a string")
    assert rows(s, "SELECT CONVERT(nvarchar(30), modified, 126) FROM event WHERE event_id = 10") == [
        ("2024-01-02T03:04:05.678",)
    ]


# -- DDL, identity, SELECT INTO ------------------------------------------------------------------


def test_create_alter_truncate_drop(s):
    run(
        s,
        "CREATE TABLE [ds_replication_fingerprint] ([event_id] int NOT NULL PRIMARY KEY, "
        "[fingerprint] char(64) NOT NULL, [changed] bit NOT NULL DEFAULT 0)",
    )
    run(s, "INSERT INTO ds_replication_fingerprint (event_id, fingerprint) VALUES (1, 'abc')")
    assert rows(s, "SELECT changed FROM ds_replication_fingerprint") == [(False,)]
    run(
        s,
        "CREATE TABLE pairs (a int NOT NULL, b nvarchar(10) NOT NULL, c datetime NULL, "
        "CONSTRAINT pk PRIMARY KEY (a, b))",
    )
    run(s, "ALTER TABLE pairs ADD note nvarchar(20) NULL")
    assert rows(
        s,
        "SELECT k.COLUMN_NAME, k.ORDINAL_POSITION, t.CONSTRAINT_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS t "
        "INNER JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k ON k.CONSTRAINT_NAME = t.CONSTRAINT_NAME "
        "AND k.TABLE_NAME = t.TABLE_NAME WHERE t.TABLE_NAME = N'pairs' AND t.CONSTRAINT_TYPE = 'PRIMARY KEY' "
        "ORDER BY k.ORDINAL_POSITION",
    ) == [("a", 1, "PK_pairs"), ("b", 2, "PK_pairs")]
    assert rows(
        s,
        "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_NAME = 'pairs' ORDER BY ORDINAL_POSITION",
    ) == [("a", "int", "NO", None), ("b", "nvarchar", "NO", 10), ("c", "datetime", "YES", None),
          ("note", "nvarchar", "YES", 20)]  # fmt: skip
    run(s, "INSERT INTO pairs (a, b) VALUES (1, N'x'), (2, N'y')")
    assert error_of(s, "INSERT INTO pairs (a, b) VALUES (3, N'far too long a value')").number == 8152
    assert run(s, "TRUNCATE TABLE pairs; SELECT COUNT(*) FROM pairs")[0].rows == [(0,)]
    run(s, "DROP TABLE pairs")
    assert rows(s, "SELECT COUNT(*) FROM sys.tables WHERE name = 'pairs'") == [(0,)]
    assert rows(s, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'event'") == [(1,)]


def test_identity_assignment_and_identity_insert(si):
    assert run(si, "INSERT INTO event_schedule (computer_id, event_id, status, start_time) "
                   "VALUES (1, 10, N'a', GETDATE()), (1, 11, N'b', GETDATE())") == [2]  # fmt: skip
    assert rows(si, "SELECT schedule_id FROM event_schedule ORDER BY 1") == [(100000000,), (100000001,)]
    e = error_of(si, "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) "
                     "VALUES (5, 1, 10, N'a', GETDATE())")  # fmt: skip
    assert e.number == 544 and e.message == (
        "Cannot insert explicit value for identity column in table 'event_schedule' when IDENTITY_INSERT is set to OFF."
    )
    assert error_of(si, "INSERT INTO event_schedule VALUES (5, 1, 10, N'a', GETDATE(), NULL)").number == 8101
    run(si, "SET IDENTITY_INSERT [dbo].[event_schedule] ON")
    assert error_of(si, "INSERT INTO event_schedule VALUES (5, 1, 10, N'a', GETDATE(), NULL)").number == 8101
    run(si, "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) "
            "VALUES (200000000, 1, 10, N'a', GETDATE())")  # fmt: skip
    run(si, "CREATE TABLE other_identity (id int IDENTITY(1, 1) NOT NULL PRIMARY KEY, v int NULL)")
    assert error_of(si, "SET IDENTITY_INSERT other_identity ON").number == 8107
    run(si, "SET IDENTITY_INSERT event_schedule OFF")
    run(si, "INSERT INTO event_schedule (computer_id, event_id, status, start_time) VALUES (1, 12, N'c', GETDATE())")
    assert rows(si, "SELECT MAX(schedule_id) FROM event_schedule") == [(200000001,)]
    run(si, "INSERT INTO other_identity (v) SELECT event_id FROM event")
    assert rows(si, "SELECT id, v FROM other_identity ORDER BY id") == [(1, 10), (2, 11), (3, 12)]
    assert rows(
        si,
        "SELECT c.name, t.name, c.is_identity, c.max_length, COLUMNPROPERTY(OBJECT_ID('event_schedule'), c.name, "
        "'IsIdentity') FROM sys.columns AS c INNER JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
        "WHERE c.object_id = OBJECT_ID(N'event_schedule') AND c.column_id <= 4 ORDER BY c.column_id",
    ) == [("schedule_id", "int", True, 4, 1), ("computer_id", "int", False, 4, 0), ("event_id", "int", False, 4, 0),
          ("status", "nvarchar", False, 100, 0)]  # fmt: skip
    assert rows(si, "SELECT name, seed_value, increment_value FROM sys.identity_columns "
                    "WHERE object_id = OBJECT_ID('event_schedule')") == [("schedule_id", 100000000, 1)]  # fmt: skip


def test_select_into_copies_identity_only_from_a_plain_column(si):
    run(si, "SELECT * INTO plain_copy FROM event_schedule")
    run(si, "SELECT schedule_id, event_id INTO named_copy FROM event_schedule WHERE 1 = 0")
    run(
        si,
        "SELECT [schedule_id] + 0 AS [schedule_id], [event_id] INTO expression_copy FROM [event_schedule] WHERE 1 = 0",
    )
    identity = "SELECT COUNT(*) FROM sys.columns WHERE object_id = OBJECT_ID(N'{}') AND is_identity = 1"
    assert rows(si, identity.format("plain_copy")) == [(1,)]
    assert rows(si, identity.format("named_copy")) == [(1,)]
    assert rows(si, identity.format("expression_copy")) == [(0,)]
    nullability = "SELECT DATA_TYPE, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'expression_copy'"
    assert rows(si, nullability + " ORDER BY ORDINAL_POSITION") == [("int", "YES"), ("int", "NO")]
    run(si, "INSERT INTO expression_copy (schedule_id, event_id) VALUES (7, 10)")
    assert error_of(si, "INSERT INTO named_copy (schedule_id, event_id) VALUES (7, 10)").number == 544


# -- the article's SQL, verbatim -----------------------------------------------------------------

ARTICLE_BACKUP = (
    "use express if exists (select * from sys.tables where name='event_schedule_backup') "
    "BEGIN DROP TABLE event_schedule_backup END select * into [event_schedule_backup] from [event_schedule]"
)
ARTICLE_RESTORE = (
    "use express INSERT into [event_schedule] select * from [event_schedule_backup] where event_id in "
    "(select event_id from event_schedule_backup except select event_id from event_schedule) and event_id in "
    "(select event_id from event) drop table event_schedule_backup"
)


def test_article_backup_and_restore_keep_history(s):
    assert run(s, ARTICLE_BACKUP) == [3]
    assert run(s, ARTICLE_BACKUP) == [3]  # a second run drops and re-creates the backup
    # what aximport does: delete the folder's jobs (the triggers delete their history), re-insert one
    assert run(s, "DELETE FROM event WHERE folder_id = 1") == [2]
    assert rows(s, "SELECT COUNT(*) FROM event_schedule; SELECT COUNT(*) FROM event_schedule_info") == [(1,), (1,)]
    run(s, "INSERT INTO event (event_id, folder_id, name, modified) VALUES (10, 1, N'Firefox', GETDATE())")
    assert run(s, ARTICLE_RESTORE) == [1]
    assert rows(s, "SELECT schedule_id, event_id FROM event_schedule ORDER BY 1") == [
        (100000023, 10), (100000025, 12)
    ]  # fmt: skip
    assert rows(s, "SELECT COUNT(*) FROM sys.tables WHERE name = 'event_schedule_backup'") == [(0,)]


def test_article_restore_breaks_on_an_identity_column(si):
    run(si, "INSERT INTO event_schedule (computer_id, event_id, status, start_time) VALUES (1, 10, N'a', GETDATE())")
    run(si, ARTICLE_BACKUP)
    run(si, "DELETE FROM event WHERE event_id = 10")
    run(si, "INSERT INTO event (event_id, folder_id, name, modified) VALUES (10, 1, N'Firefox', GETDATE())")
    out = run(si, ARTICLE_RESTORE)
    assert out[0].number == 8101  # as DOMAIN.md says: select * cannot feed an IDENTITY column
    assert rows(si, "SELECT COUNT(*) FROM event_schedule") == [(0,)]


def test_insert_select_stores_values_as_before_where_sqlite_skips_the_conversion(s, tmp_path):
    """INSERT ... SELECT hands a value to lab_store only when SQLite cannot tell it is stored
    unchanged: what it stores and refuses is the same either way."""
    run(s, "CREATE TABLE raw (n nvarchar(20) NULL, t nvarchar(50) NULL, d nvarchar(30) NULL)")
    run(s, "CREATE TABLE kept (n int NULL, t nvarchar(5) NULL, d datetime NULL)")
    run(s, "CREATE TABLE strict (n int NOT NULL)")
    db = ds_schema.connect(tmp_path / "express.db")  # values as a DS tool writes them, not normalised
    with db:
        db.executemany(
            "INSERT INTO raw VALUES (?, ?, ?)",
            [
                (7, "short", "2024-02-01 10:00:00.123"),  # stored unchanged, no conversion
                ("42", "abc", "2024-02-01T10:00:00"),  # converted: text to int, datetime normalised
                (None, None, None),
                (8, "x", "2024-02-29 23:59:59.999"),
            ],
        )
    db.close()
    assert run(s, "SET NOCOUNT ON; INSERT INTO kept SELECT n, t, d FROM raw") == []
    assert rows(s, "SELECT n, t, d FROM kept ORDER BY n") == [
        (None, None, None),
        (7, "short", dt.datetime(2024, 2, 1, 10, 0, 0, 123000)),
        (8, "x", dt.datetime(2024, 2, 29, 23, 59, 59, 999000)),
        (42, "abc", dt.datetime(2024, 2, 1, 10, 0)),
    ]
    db = ds_schema.connect(tmp_path / "express.db")
    assert db.execute("SELECT typeof(n), d FROM kept WHERE n = 42").fetchone() == ("integer", "2024-02-01 10:00:00.000")
    db.close()
    assert error_of(s, "INSERT INTO kept (t) SELECT t + N'-too-long' FROM raw WHERE n = 7").number == 8152
    assert error_of(s, "INSERT INTO strict SELECT n FROM raw").number == 515
    assert error_of(s, "INSERT INTO kept (d) SELECT t FROM raw WHERE n = 7").number == 241
