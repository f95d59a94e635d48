"""SQL Server's own rules the lab copies, each with the document or message it follows:
text/ntext/image, the session's date format and language, resource errors, IDENTITY_INSERT."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

import pymssql
import pytest

from tests.lab import ds_schema, faults
from tests.lab.tds import TdsServer
from tests.lab.tsql import Engine, SqlError, catalog
from tests.lab_tests.test_tsql import error_of, rows, run


@pytest.fixture
def engine(tmp_path) -> Engine:
    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    return Engine(str(path))


@pytest.fixture
def lob_session(engine):
    s = engine.session()
    rows(
        s,
        "CREATE TABLE lob_note (note_id int NOT NULL PRIMARY KEY, body ntext NULL, old text NULL, "
        "picture image NULL, modern nvarchar(max) NULL)",
    )
    rows(
        s,
        "INSERT INTO lob_note (note_id, body, old, picture, modern) VALUES "
        f"(1, N'{'x' * 5000}', 'plain', NULL, N'{'y' * 5000}'), (2, N'short', NULL, NULL, N'two')",
    )
    yield s
    s.close()


# -- text, ntext, image ------------------------------------------------------------------------
# SQL Server docs, "ntext, text, and image (Transact-SQL)" and the messages below.


def test_lob_columns_are_lob_in_the_catalog(lob_session):
    """sys.columns: text 35, ntext 99, image 34, max_length 16 (the text pointer); (max) types -1."""
    got = rows(
        lob_session,
        "SELECT name, system_type_id, max_length FROM sys.columns WHERE object_id = OBJECT_ID(N'lob_note') "
        "ORDER BY column_id",
    )
    assert got == [("note_id", 56, 4), ("body", 99, 16), ("old", 35, 16), ("picture", 34, 16), ("modern", 231, -1)]
    columns = {c.name: c for c in catalog.columns(lob_session.db, "lob_note")}
    assert [n for n, c in columns.items() if catalog.is_lob(c)] == ["body", "old", "picture"]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        # Msg 402, severity 16, as SQL Server words it
        ("a.body = b.body", "The data types ntext and ntext are incompatible in the equal to operator."),
        ("a.body <> b.body", "The data types ntext and ntext are incompatible in the not equal to operator."),
        ("a.old = 'plain'", "The data types text and varchar are incompatible in the equal to operator."),
        ("a.body IN (b.body)", "The data types ntext and ntext are incompatible in the equal to operator."),
    ],
)
def test_comparing_lobs_fails_with_msg_402(lob_session, where, message):
    error = error_of(lob_session, f"SELECT a.note_id FROM lob_note AS a, lob_note AS b WHERE {where}")
    assert (error.number, error.severity, error.message) == (402, 16, message)


@pytest.mark.parametrize(
    ("query", "number", "message"),
    [
        (
            "SELECT note_id FROM lob_note ORDER BY body",
            306,
            "The text, ntext, and image data types cannot be compared or sorted, except when using IS NULL or "
            "LIKE operator.",
        ),
        (
            "SELECT body, COUNT(*) AS n FROM lob_note GROUP BY body",
            306,
            "The text, ntext, and image data types cannot be compared or sorted, except when using IS NULL or "
            "LIKE operator.",
        ),
        (
            "SELECT DISTINCT body FROM lob_note",
            421,
            "The ntext data type cannot be selected as DISTINCT because it is not comparable.",
        ),
    ],
)
def test_sorting_grouping_distinct_on_lobs_fail_as_sql_server(lob_session, query, number, message):
    """Msg 306 (ORDER BY, GROUP BY) and Msg 421 (DISTINCT), severity 16."""
    error = error_of(lob_session, query)
    assert (error.number, error.severity, error.message) == (number, 16, message)


def test_is_null_and_cast_to_max_types_work(lob_session):
    """SQL Server's advice: compare text/ntext/image by CAST to varchar(max), nvarchar(max), varbinary(max)."""
    assert rows(lob_session, "SELECT note_id FROM lob_note WHERE body IS NULL OR old IS NULL ORDER BY note_id") == [
        (2,)
    ]
    same = rows(
        lob_session,
        "SELECT a.note_id FROM lob_note AS a, lob_note AS b WHERE a.note_id = 1 AND b.note_id = 1 "
        "AND CAST(a.body AS nvarchar(max)) = CAST(b.body AS nvarchar(max)) "
        "AND CAST(a.old AS varchar(max)) = CAST(b.old AS varchar(max))",
    )
    assert same == [(1,)]
    long = rows(lob_session, "SELECT CAST(body AS nvarchar(max)) AS b FROM lob_note WHERE note_id = 1")
    assert long == [("x" * 5000,)]  # (max): not cut to 30 characters
    assert rows(lob_session, "SELECT CAST(N'abc' AS varbinary(max)) AS b") == [("abc".encode("utf-16-le"),)]
    modern = rows(lob_session, "SELECT a.note_id FROM lob_note AS a WHERE a.modern = N'two'")
    assert modern == [(2,)]  # nvarchar(max) compares as any string


@pytest.fixture
def tds(engine) -> Iterator[TdsServer]:
    server = TdsServer(engine, "sa", "Secret123!")
    server.start()
    yield server
    server.stop()


def test_pymssql_reads_text_ntext_and_image(engine, tds):
    """Over TDS as SQL Server sends them (TEXTTYPE 0x23, NTEXTTYPE 0x63, IMAGETYPE 0x22): pymssql reads
    text and ntext as str, image as bytes, NULL as None."""
    conn = pymssql.connect(server="127.0.0.1", port=str(tds.port), user="sa", password="Secret123!",
                           database="express", login_timeout=5)  # fmt: skip
    try:
        cursor = conn.cursor()
        cursor.execute("CREATE TABLE lob_wire (k int NOT NULL PRIMARY KEY, n ntext NULL, t text NULL, i image NULL)")
        cursor.execute("INSERT INTO lob_wire (k, n, t, i) VALUES (1, %s, %s, %s), (2, NULL, NULL, NULL)",
                       ("é" * 6000, "plain text", b"\x00\x01\xff"))  # fmt: skip
        cursor.execute("SELECT n, t, i FROM lob_wire ORDER BY k")
        assert cursor.fetchall() == [("é" * 6000, "plain text", b"\x00\x01\xff"), (None, None, None)]
    finally:
        conn.close()


# -- the session's DATEFORMAT and LANGUAGE ------------------------------------------------------
# SQL Server docs: "SET DATEFORMAT (Transact-SQL)", "SET LANGUAGE (Transact-SQL)", "datetime
# (Transact-SQL)": the ISO 8601 forms 'YYYY-MM-DDThh:mm:ss[.mmm]' and 'YYYYMMDD[ hh:mm:ss]' are
# not affected by SET DATEFORMAT or SET LANGUAGE; the numeric 'YYYY-MM-DD hh:mm:ss' is.

OUT_OF_RANGE = "The conversion of a varchar data type to a datetime data type resulted in an out-of-range value."


def read_as(session, text: str) -> dt.datetime:
    return rows(session, f"SELECT CAST('{text}' AS datetime) AS d")[0][0]


@pytest.mark.parametrize("dateformat", ["dmy", "ydm", "dym"])
def test_year_first_dates_read_year_day_month_under_dmy_ydm_dym(engine, dateformat):
    s = engine.session()
    rows(s, f"SET DATEFORMAT {dateformat}")
    assert read_as(s, "2026-11-03 02:00:00") == dt.datetime(2026, 3, 11, 2, 0)
    error = error_of(s, "SELECT CAST('2026-11-29 02:00:00' AS datetime) AS d")
    assert (error.number, error.severity, error.message) == (242, 16, OUT_OF_RANGE)


@pytest.mark.parametrize("dateformat", ["mdy", "ymd", "myd"])
def test_year_first_dates_read_year_month_day_under_mdy_ymd_myd(engine, dateformat):
    s = engine.session()
    rows(s, f"SET DATEFORMAT {dateformat}")
    assert read_as(s, "2026-11-03 02:00:00") == dt.datetime(2026, 11, 3, 2, 0)
    assert read_as(s, "2026-11-29 02:00:00") == dt.datetime(2026, 11, 29, 2, 0)


SETTINGS = ["SET LANGUAGE British", "SET LANGUAGE us_english", "SET LANGUAGE Deutsch", "SET LANGUAGE N'Français'",
            "SET DATEFORMAT ydm", "SET DATEFORMAT mdy"]  # fmt: skip


@pytest.mark.parametrize("setting", SETTINGS)
def test_iso_8601_with_t_and_unseparated_read_the_same_everywhere(engine, setting):
    s = engine.session()
    rows(s, setting)
    assert read_as(s, "2026-11-03T02:00:00") == dt.datetime(2026, 11, 3, 2, 0)
    assert read_as(s, "2026-11-29T02:00:00.123") == dt.datetime(2026, 11, 29, 2, 0, 0, 123000)
    assert read_as(s, "20261129") == dt.datetime(2026, 11, 29)
    assert read_as(s, "20261103 02:00:00") == dt.datetime(2026, 11, 3, 2, 0)


def test_set_language_sets_the_dateformat_and_at_at_language(engine):
    """SET LANGUAGE British: @@LANGUAGE 'British', dates dmy; us_english: mdy."""
    s = engine.session()
    assert rows(s, "SELECT @@LANGUAGE AS l") == [("us_english",)]
    rows(s, "SET LANGUAGE British")
    assert rows(s, "SELECT @@LANGUAGE AS l") == [("British",)]
    assert read_as(s, "03/11/2026") == dt.datetime(2026, 11, 3)
    assert read_as(s, "2026-11-03 02:00:00") == dt.datetime(2026, 3, 11, 2, 0)
    rows(s, "SET LANGUAGE us_english")
    assert read_as(s, "03/11/2026") == dt.datetime(2026, 3, 11)


def test_a_string_compared_with_or_stored_in_a_datetime_is_read_under_the_dateformat(engine):
    """Data type precedence: the string converts to datetime, under the session's DATEFORMAT."""
    s = engine.session()
    rows(s, "INSERT INTO event (event_id, folder_id, name, modified) VALUES (1, 1, N'a', '2026-11-03T02:00:00')")
    rows(s, "SET DATEFORMAT dmy")
    assert rows(s, "SELECT event_id FROM event WHERE modified = '2026-11-03 02:00:00'") == []
    assert rows(s, "SELECT event_id FROM event WHERE modified = '2026-03-11 02:00:00'") == [(1,)]
    error = error_of(s, "SELECT event_id FROM event WHERE modified = '2026-11-29 02:00:00.000'")
    assert (error.number, error.message) == (242, OUT_OF_RANGE)
    error = error_of(
        s, "INSERT INTO event (event_id, folder_id, name, modified) VALUES (2, 1, N'b', '2026-11-29 02:00')"
    )
    assert (error.number, error.message) == (242, OUT_OF_RANGE)
    rows(s, "INSERT INTO event (event_id, folder_id, name, modified) SELECT 3, folder_id, name, modified FROM event")
    assert rows(s, "SELECT modified FROM event WHERE event_id = 3") == [(dt.datetime(2026, 11, 3, 2, 0),)]


def test_alter_login_default_language_takes_effect_for_new_sessions(engine):
    """ALTER LOGIN ... WITH DEFAULT_LANGUAGE: the login's next sessions start in that language;
    the session that ran it keeps its own."""
    s = engine.session()
    rows(s, "ALTER LOGIN [ds_replication] WITH DEFAULT_LANGUAGE = British")
    assert rows(s, "SELECT @@LANGUAGE AS l") == [("us_english",)]
    fresh = engine.session()
    assert rows(fresh, "SELECT @@LANGUAGE AS l") == [("British",)]
    assert error_of(fresh, "SELECT CAST('2026-11-29 02:00:00' AS datetime) AS d").number == 242
    rows(fresh, "ALTER LOGIN [ds_replication] WITH DEFAULT_LANGUAGE = us_english")
    assert rows(engine.session(), "SELECT @@LANGUAGE AS l") == [("us_english",)]


def test_the_british_login_variant_starts_sessions_in_british(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path, schema="british_login")
    s = Engine(str(path)).session()
    assert rows(s, "SELECT @@LANGUAGE AS l") == [("British",)]
    assert read_as(s, "2026-11-03 02:00:00") == dt.datetime(2026, 3, 11, 2, 0)


def test_pymssql_datetime_parameters_are_read_under_the_login_language(engine, tds):
    """pymssql sends a datetime parameter as the literal 'YYYY-MM-DD hh:mm:ss.mmm': under a British
    login SQL Server reads it year-day-month (wrong day, or Msg 242)."""
    rows(engine.session(), "ALTER LOGIN [sa] WITH DEFAULT_LANGUAGE = British")
    conn = pymssql.connect(server="127.0.0.1", port=str(tds.port), user="sa", password="Secret123!",
                           database="express", login_timeout=5)  # fmt: skip
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT CAST(%s AS datetime) AS d", (dt.datetime(2026, 11, 3, 2, 0),))
        assert cursor.fetchall() == [(dt.datetime(2026, 3, 11, 2, 0),)]
        with pytest.raises(pymssql.OperationalError, match="242"):
            cursor.execute("SELECT CAST(%s AS datetime) AS d", (dt.datetime(2026, 11, 29, 2, 0),))
        cursor.execute("SET DATEFORMAT ymd")
        cursor.execute("SELECT CAST(%s AS datetime) AS d", (dt.datetime(2026, 11, 29, 2, 0),))
        assert cursor.fetchall() == [(dt.datetime(2026, 11, 29, 2, 0),)]
    finally:
        conn.close()


# -- resource errors as faults -------------------------------------------------------------------
# SQL Server docs, "Database Engine Error Severities": 17 "the statement caused SQL Server to run
# out of resources" (the statement fails; with XACT_ABORT ON the batch ends and the transaction
# rolls back); 19 "a nonconfigurable Database Engine limit has been exceeded and the current batch
# process has been terminated". Messages: MSSQLSERVER_9002, _1105, _1204.


@pytest.fixture
def faulty_tds(engine, tmp_path) -> Iterator[TdsServer]:
    server = TdsServer(engine, "sa", "Secret123!", fault=functools.partial(faults.take, tmp_path, "slave1"))
    server.start()
    yield server
    server.stop()


def _connect(server: TdsServer) -> pymssql.Connection:
    conn = pymssql.connect(server="127.0.0.1", port=str(server.port), user="sa", password="Secret123!",
                           database="express", login_timeout=5)  # fmt: skip
    conn.autocommit(True)
    return conn


def _schedules(conn) -> list[int]:
    cursor = conn.cursor()
    cursor.execute("SELECT schedule_id FROM event_schedule ORDER BY schedule_id")
    return [r[0] for r in cursor.fetchall()]


INSERT_ONE = (
    "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) "
    "VALUES ({n}, 1, 1, N'ok', '2026-11-03T02:00:00')"
)


@pytest.mark.parametrize(
    ("fault", "number", "severity", "start"),
    [
        ("sql_log_full", 9002, 17, "The transaction log for database 'express' is full."),
        ("sql_filegroup_full", 1105, 17, "Could not allocate space for object 'dbo.event_schedule' in database "
         "'express' because the 'PRIMARY' filegroup is full."),
        ("sql_lock_resources", 1204, 19, "The instance of the SQL Server Database Engine cannot obtain a LOCK "
         "resource at this time."),
    ],
)  # fmt: skip
def test_resource_faults_fail_with_sql_servers_error_and_roll_back_under_xact_abort(
    faulty_tds, tmp_path, fault, number, severity, start
):
    conn = _connect(faulty_tds)
    try:
        faults.arm(tmp_path, "slave1", fault, match="INSERT INTO event_schedule")
        cursor = conn.cursor()
        with pytest.raises(pymssql.OperationalError) as raised:
            cursor.execute(
                "SET XACT_ABORT ON; BEGIN TRANSACTION; "
                + INSERT_ONE.format(n=1).replace("event_schedule", "[event_schedule]")
                + "; "
                + INSERT_ONE.format(n=2)
                + "; COMMIT TRANSACTION;"
            )
        text = raised.value.args[1].decode()
        assert raised.value.args[0] == number and text.startswith(start)
        assert f"severity {severity}" in text  # as FreeTDS reports the server's severity
        assert _schedules(conn) == []  # the batch ended, its transaction rolled back
        cursor.execute("SELECT @@TRANCOUNT AS n")
        assert cursor.fetchall() == [(0,)]
        assert faults.armed(tmp_path, "slave1") == []
    finally:
        conn.close()


def test_severity_17_ends_the_statement_and_19_the_batch(engine, faulty_tds, tmp_path):
    conn = _connect(faulty_tds)
    try:
        cursor = conn.cursor()
        faults.arm(tmp_path, "slave1", "sql_log_full", match="VALUES (1,")
        with pytest.raises(pymssql.OperationalError, match="9002"):
            cursor.execute(INSERT_ONE.format(n=1) + "; " + INSERT_ONE.format(n=2))
        assert _schedules(conn) == [2]  # severity 17, XACT_ABORT OFF: only the statement failed
        faults.arm(tmp_path, "slave1", "sql_lock_resources", match="VALUES (3,")
        with pytest.raises(pymssql.OperationalError, match="1204"):
            cursor.execute("BEGIN TRANSACTION; " + INSERT_ONE.format(n=4) + "; " + INSERT_ONE.format(n=3) + "; "
                           + INSERT_ONE.format(n=5) + "; COMMIT TRANSACTION;")  # fmt: skip
        assert _schedules(conn) == [2]  # severity 19: batch ended, its transaction rolled back
    finally:
        conn.close()


# -- IDENTITY_INSERT: one table per session ---------------------------------------------------
# SQL Server docs, "SET IDENTITY_INSERT (Transact-SQL)": "At any time, only one table in a session
# can have the IDENTITY_INSERT property set to ON" (else Msg 8107); it is a session setting, so a
# batch that ends before its OFF leaves it ON for the connection's next batches.


def test_identity_insert_left_on_by_an_aborted_batch_refuses_a_second_table(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path, identity=True)
    s = Engine(str(path)).session()
    rows(s, "CREATE TABLE other_log (log_id int IDENTITY(1, 1) NOT NULL, note nvarchar(20) NULL)")
    out = run(s, "SET XACT_ABORT ON; SET IDENTITY_INSERT event_schedule ON; SELECT 1 / 0 AS boom; "
                 "SET IDENTITY_INSERT event_schedule OFF;")  # fmt: skip
    assert [o.number for o in out if isinstance(o, SqlError)] == [8134]
    error = error_of(s, "SET IDENTITY_INSERT other_log ON")
    assert (error.number, error.message) == (
        8107,
        "IDENTITY_INSERT is already ON for table 'express.dbo.event_schedule'. Cannot perform SET operation for "
        "table 'other_log'.",
    )
    rows(s, "SET IDENTITY_INSERT event_schedule OFF; SET IDENTITY_INSERT other_log ON")
