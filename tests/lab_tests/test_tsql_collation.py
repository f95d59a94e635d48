"""Collations in the lab, as SQL Server has them.

Sources: "COLLATE (Transact-SQL)" (column definitions and expressions, DATABASE_DEFAULT);
"Collation Precedence (Transact-SQL)" (explicit > implicit > coercible-default; two different
implicit collations cannot be compared); Msg 468 "Cannot resolve the collation conflict between
"%ls" and "%ls" in the %ls operation."; Msg 447 "Expression type %ls is invalid for COLLATE
clause."; "sys.columns" (collation_name, NULL for non-character columns); "SERVERPROPERTY" and
"DATABASEPROPERTYEX" ('Collation'); "ALTER TABLE" (ALTER COLUMN without COLLATE assigns the
database's default collation); "SELECT - INTO Clause" (each column keeps its collation);
"CAST and CONVERT" (a string keeps its collation).
"""

from __future__ import annotations

import pytest

from tests.lab import ax_tools, ds_schema
from tests.lab.tsql import Engine
from tests.lab_tests.test_tsql import error_of, rows, run
from tests.lab_tests.test_tsql_triggers import NO_FAULT

DEFAULT = "SQL_Latin1_General_CP1_CI_AS"
TABLE = """
CREATE TABLE word (id int NOT NULL PRIMARY KEY, cs nvarchar(20) COLLATE Latin1_General_CS_AS NOT NULL,
  ci nvarchar(20) NULL, bin varchar(20) COLLATE Latin1_General_BIN NULL, n int NULL);
INSERT INTO word (id, cs, ci, bin, n) VALUES (1, N'Apple', N'Apple', 'Apple', 1), (2, N'apple', N'apple', 'apple', 2);
"""


@pytest.fixture
def s(db_path):
    session = Engine(str(db_path)).session()
    run(session, TABLE)
    yield session
    session.close()


def conflict(left: str, right: str, operation: str = "equal to") -> str:
    return f'Cannot resolve the collation conflict between "{left}" and "{right}" in the {operation} operation.'


def test_each_character_column_has_a_collation_and_the_database_default_is_told(s):
    columns = rows(s, "SELECT c.name, c.collation_name FROM sys.columns AS c "
                      "WHERE c.object_id = OBJECT_ID(N'dbo.word') ORDER BY c.column_id")  # fmt: skip
    assert columns == [("id", None), ("cs", "Latin1_General_CS_AS"), ("ci", DEFAULT),
                       ("bin", "Latin1_General_BIN"), ("n", None)]  # fmt: skip
    assert rows(s, "SELECT collation_name FROM sys.columns WHERE object_id = OBJECT_ID(N'event_schedule') "
                   "AND name IN (N'status', N'schedule_id') ORDER BY name") == [(None,), (DEFAULT,)]  # fmt: skip
    assert rows(s, "SELECT SERVERPROPERTY('Collation'), DATABASEPROPERTYEX(N'express', 'Collation'), "
                   "DATABASEPROPERTYEX(N'nosuch', 'Collation')") == [(DEFAULT, DEFAULT, None)]  # fmt: skip
    assert rows(s, "SELECT COLLATION_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = N'word' "
                   "AND COLUMN_NAME = N'cs'") == [("Latin1_General_CS_AS",)]  # fmt: skip


def test_equal_follows_the_collation_case_insensitive_or_not(s):
    assert rows(s, "SELECT id FROM word WHERE ci = N'APPLE' ORDER BY id") == [(1,), (2,)]
    assert rows(s, "SELECT id FROM word WHERE cs = N'apple'") == [(2,)]
    assert rows(s, "SELECT id FROM word WHERE N'APPLE' = cs") == []  # a literal takes the column's collation
    assert rows(s, "SELECT id FROM word WHERE bin IN ('apple', 'x')") == [(2,)]
    # an explicit collation wins over the column's
    assert rows(s, "SELECT id FROM word WHERE ci COLLATE Latin1_General_CS_AS = N'apple'") == [(2,)]
    assert rows(s, "SELECT id FROM word WHERE cs = N'APPLE' COLLATE Latin1_General_CI_AS ORDER BY id") == [
        (1,), (2,)]  # fmt: skip
    # a primary key on a case-insensitive column: 'A' and 'a' are the same key (2627)
    run(s, "CREATE TABLE tag (name nvarchar(10) NOT NULL PRIMARY KEY, cased nvarchar(10) COLLATE "
           "Latin1_General_CS_AS NULL); INSERT INTO tag VALUES (N'a', N'a')")  # fmt: skip
    assert error_of(s, "INSERT INTO tag VALUES (N'A', N'A')").number == 2627


def test_two_implicit_collations_conflict_with_468_and_collate_resolves_it(s):
    error = error_of(s, "SELECT a.id FROM word AS a INNER JOIN word AS b ON a.cs = b.ci")
    assert (error.number, error.severity, error.message) == (468, 16, conflict("Latin1_General_CS_AS", DEFAULT))
    error = error_of(s, "SELECT id FROM word WHERE ci <> cs")
    assert error.message == conflict(DEFAULT, "Latin1_General_CS_AS", "not equal to")
    error = error_of(s, "SELECT id FROM word AS w WHERE EXISTS (SELECT w.cs INTERSECT SELECT w.ci)")
    assert error.message == conflict("Latin1_General_CS_AS", DEFAULT, "INTERSECT")
    error = error_of(s, "SELECT id FROM word WHERE cs IN (SELECT ci FROM word)")
    assert error.number == 468
    # COLLATE DATABASE_DEFAULT (explicit) on either side resolves it, and decides how they compare
    assert rows(
        s, "SELECT a.id, b.id FROM word AS a INNER JOIN word AS b ON a.cs COLLATE DATABASE_DEFAULT = b.ci ORDER BY 1, 2"
    ) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert rows(s, "SELECT a.id, b.id FROM word AS a INNER JOIN word AS b "
                   "ON a.ci = b.cs COLLATE Latin1_General_CS_AS ORDER BY 1, 2") == [(1, 1), (2, 2)]  # fmt: skip
    # a CAST keeps the column's collation (and its conflict)
    assert error_of(s, "SELECT id FROM word WHERE CAST(cs AS nvarchar(30)) = ci").number == 468
    # two different explicit collations
    assert error_of(s, "SELECT id FROM word WHERE cs COLLATE Latin1_General_CS_AS = ci COLLATE "
                       "Latin1_General_CI_AS").number == 468  # fmt: skip
    # a number compared with a string is no collation matter
    assert rows(s, "SELECT id FROM word WHERE n = 1") == [(1,)]


def test_select_into_copies_each_columns_collation_and_alter_column_without_collate_takes_the_default(s):
    run(s, "SELECT id, cs, ci, cs + N'!' AS shout, N'x' AS lit INTO word_copy FROM word")
    columns = rows(s, "SELECT name, collation_name FROM sys.columns WHERE object_id = OBJECT_ID(N'word_copy') "
                      "ORDER BY column_id")  # fmt: skip
    assert columns == [("id", None), ("cs", "Latin1_General_CS_AS"), ("ci", DEFAULT),
                       ("shout", "Latin1_General_CS_AS"), ("lit", DEFAULT)]  # fmt: skip
    assert rows(s, "SELECT COUNT(*) FROM word AS w INNER JOIN word_copy AS c ON c.cs = w.cs") == [(2,)]
    run(s, "ALTER TABLE word_copy ADD extra nvarchar(5) COLLATE Latin1_General_BIN NULL")
    run(s, "ALTER TABLE word_copy ALTER COLUMN cs nvarchar(40) NOT NULL")  # no COLLATE: the database's
    run(s, "ALTER TABLE word_copy ALTER COLUMN ci nvarchar(40) COLLATE Latin1_General_CS_AS NULL")
    columns = rows(s, "SELECT name, collation_name FROM sys.columns WHERE object_id = OBJECT_ID(N'word_copy') "
                      "AND name IN (N'cs', N'ci', N'extra') ORDER BY column_id")  # fmt: skip
    assert columns == [("cs", DEFAULT), ("ci", "Latin1_General_CS_AS"), ("extra", "Latin1_General_BIN")]
    assert error_of(s, "SELECT COUNT(*) FROM word AS w INNER JOIN word_copy AS c ON c.cs = w.cs").number == 468
    assert rows(s, "SELECT id FROM word_copy WHERE ci = N'apple'") == [(2,)]


def test_what_the_lab_does_not_compare_is_refused(s):
    error = error_of(s, "SELECT id FROM word WHERE ci = N'x' COLLATE Latin1_General_CI_AI")
    assert error.number == 50001 and "collation Latin1_General_CI_AI" in error.message, error.message
    error = error_of(s, "CREATE TABLE bad (n int COLLATE Latin1_General_CS_AS NULL)")
    assert (error.number, error.message) == (447, "Expression type int is invalid for COLLATE clause.")
    error = error_of(s, "SELECT id FROM word WHERE cs LIKE N'a%'")
    assert error.number == 50001 and "LIKE under the case-sensitive collation" in error.message
    assert rows(s, "SELECT id FROM word WHERE ci LIKE N'A%' ORDER BY id") == [(1,), (2,)]
    error = error_of(s, "SELECT DATABASEPROPERTYEX(N'express', 'Recovery')")
    assert error.number == 50001 and "'Recovery'" in error.message


def test_a_trigger_compares_deleted_by_its_tables_collations(db_path, tmp_path):
    """`deleted` has the columns (and collations) of the trigger's table: a conflict fails at
    CREATE TRIGGER as SQL Server's binding does; resolved, the body compares by the collation,
    also when a DS tool's delete fires it."""
    s = Engine(str(db_path)).session()
    run(s, "CREATE TABLE kept (status nvarchar(50) COLLATE Latin1_General_CS_AS NULL, n int NULL)")
    body = ("INSERT INTO kept (status, n) SELECT d.status, COUNT(*) FROM deleted AS d "
            "WHERE NOT EXISTS (SELECT 1 FROM kept AS k WHERE k.status = d.status{}) GROUP BY d.status")  # fmt: skip
    error = error_of(s, "CREATE TRIGGER keep ON event_schedule AFTER DELETE AS " + body.format(""))
    assert (error.number, error.message) == (468, conflict("Latin1_General_CS_AS", DEFAULT))
    rows(s, "CREATE TRIGGER keep ON event_schedule AFTER DELETE AS " + body.format(" COLLATE Latin1_General_CS_AS"))
    rows(s, "INSERT INTO event_folder VALUES (1, NULL, N'Global'); "
            "INSERT INTO event VALUES (10, 1, N'job', NULL, '2024-02-01 10:00:00'); "
            "INSERT INTO kept VALUES (N'ok', 0); "
            "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) VALUES "
            "(1, 5, 10, N'OK', '2024-02-01 10:00:00'), (2, 5, 10, N'ok', '2024-02-01 11:00:00')")  # fmt: skip
    export = tmp_path / "global.bin"
    assert ax_tools.axexport(str(db_path), "Global", False, export, NO_FAULT, "axexport").exit_code == 0
    # aximport /o deletes the folder's job on its own connection: the DS's cascade deletes both schedules
    assert ax_tools.aximport(str(db_path), export, True, NO_FAULT, "aximport").exit_code == 0
    assert rows(s, "SELECT status, n FROM kept ORDER BY n") == [("ok", 0), ("OK", 1)]  # case-sensitive: 'OK' new
    s.close()


def test_a_schema_variant_whose_history_has_its_own_collation(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path, schema="history_collation")
    s = Engine(str(path)).session()
    collations = rows(s, "SELECT t.name, c.name, c.collation_name FROM sys.columns AS c INNER JOIN sys.tables AS t "
                         "ON t.object_id = c.object_id WHERE c.collation_name IS NOT NULL ORDER BY 1, 2")  # fmt: skip
    s.close()
    history = {(t, c): name for t, c, name in collations if t.startswith("event_schedule")}
    assert history == {("event_schedule", "status"): ds_schema.HISTORY_COLLATION,
                       ("event_schedule_info", "message"): ds_schema.HISTORY_COLLATION}  # fmt: skip
    assert {name for t, _, name in collations if not t.startswith("event_schedule")} == {DEFAULT}


def test_an_update_assigns_across_collations_and_compares_in_its_where(s):
    """SET col = value converts (no collation matter); its WHERE compares by the rules. An ntext
    column may be set (402 is for comparisons)."""
    rows(s, "UPDATE word SET cs = ci WHERE ci = N'APPLE' AND id = 1")
    assert rows(s, "SELECT cs FROM word ORDER BY id") == [("Apple",), ("apple",)]
    assert error_of(s, "UPDATE word SET cs = N'x' WHERE cs = ci").number == 468
    run(s, "CREATE TABLE note (id int NOT NULL PRIMARY KEY, body ntext NULL); INSERT INTO note VALUES (1, N'a')")
    rows(s, "UPDATE note SET body = N'edited' WHERE id = 1")
    assert error_of(s, "UPDATE note SET body = N'x' WHERE body = N'edited'").number == 402
