"""Unique indexes, foreign keys, rowversion and computed columns through the interpreter: the
catalog views that describe them and SQL Server's errors (2601, 2627, 547, 271, 272, 273)."""

from __future__ import annotations

import pytest

from tests.lab.tsql import Engine
from tests.lab_tests.test_tsql import error_of, rows, run, with_session

TABLES = """
CREATE TABLE parent (id int NOT NULL PRIMARY KEY, code nvarchar(10) NULL);
CREATE UNIQUE INDEX UX_parent_code ON dbo.parent (code);
CREATE TABLE child (id int NOT NULL PRIMARY KEY, parent_id int NOT NULL, half AS (id % 2), rv rowversion,
  CONSTRAINT FK_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
INSERT INTO parent VALUES (1, N'a'), (2, NULL);
INSERT INTO child (id, parent_id) VALUES (10, 1), (11, 2);
"""


@pytest.fixture
def s(tmp_path):
    from tests.lab import ds_schema

    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    engine = Engine(str(path))
    with_session(engine, TABLES)
    session = engine.session()
    yield session
    session.close()


def test_unique_index_violation_is_2601_and_null_keys_are_duplicates(s):
    error = error_of(s, "INSERT INTO parent VALUES (3, N'a')")
    assert (error.number, error.message) == (
        2601, "Cannot insert duplicate key row in object 'dbo.parent' with unique index 'UX_parent_code'. "
        "The duplicate key value is (a).")  # fmt: skip
    assert error_of(s, "INSERT INTO parent VALUES (3, NULL)").number == 2601  # one NULL only, as in SQL Server
    assert error_of(s, "UPDATE parent SET code = N'a' WHERE id = 2").number == 2601
    error = error_of(s, "INSERT INTO parent VALUES (1, N'z')")
    assert error.number == 2627 and error.message.endswith("The duplicate key value is (1).")
    run(s, "INSERT INTO parent (id, code) VALUES (3, N'b')")
    error = error_of(s, "CREATE UNIQUE INDEX UX_child_parent ON child (parent_id); INSERT INTO child (id, parent_id) "
                     "VALUES (12, 3), (13, 3)")  # fmt: skip
    assert error.number == 2601
    run(s, "CREATE TABLE dup (a int NULL); INSERT INTO dup VALUES (1), (1)")
    assert error_of(s, "CREATE UNIQUE INDEX UX_dup ON dup (a)").number == 1505
    assert error_of(s, "CREATE UNIQUE INDEX UX_parent_code ON parent (id)").number == 1913
    assert error_of(s, "CREATE INDEX IX_x ON parent (nope)").number == 1911
    assert error_of(s, "CREATE CLUSTERED INDEX IX_x ON parent (id)").number == 50001


def test_foreign_key_violations_are_547(s):
    error = error_of(s, "INSERT INTO child (id, parent_id) VALUES (12, 99)")
    assert (error.number, error.message) == (
        547, 'The INSERT statement conflicted with the FOREIGN KEY constraint "FK_child_parent". The conflict '
        "occurred in database \"express\", table \"dbo.parent\", column 'id'.")  # fmt: skip
    error = error_of(s, "DELETE FROM parent WHERE id = 1")
    assert (error.number, error.message) == (
        547, 'The DELETE statement conflicted with the REFERENCE constraint "FK_child_parent". The conflict '
        "occurred in database \"express\", table \"dbo.child\", column 'parent_id'.")  # fmt: skip
    assert error_of(s, "UPDATE child SET parent_id = 98 WHERE id = 10").number == 547
    assert rows(s, "SELECT COUNT(*) FROM parent") == [(2,)]
    assert rows(s, "SELECT COUNT(*) FROM child") == [(2,)]
    assert (
        error_of(s, "CREATE TABLE bad (a int, CONSTRAINT FK_bad FOREIGN KEY (a) REFERENCES nope (id))").number == 1767
    )
    bad = "CREATE TABLE bad (a int, CONSTRAINT FK_bad FOREIGN KEY (a) REFERENCES parent (id) ON DELETE CASCADE)"
    assert error_of(s, bad).number == 50001


def test_computed_and_timestamp_columns(s):
    assert error_of(s, "INSERT INTO child (id, parent_id, half) VALUES (13, 1, 0)").message == (
        'The column "half" cannot be modified because it is either a computed column or is the result of a UNION '
        "operator."
    )
    assert error_of(s, "INSERT INTO child (id, parent_id, rv) VALUES (13, 1, 1)").number == 273
    assert error_of(s, "UPDATE child SET half = 1").number == 271
    assert error_of(s, "UPDATE child SET rv = 1").number == 272
    before = rows(s, "SELECT id, half, rv, CAST(rv AS bigint) FROM child ORDER BY id")
    assert [(r[0], r[1]) for r in before] == [(10, 0), (11, 1)]
    assert all(isinstance(r[2], bytes) and len(r[2]) == 8 and int.from_bytes(r[2], "big") == r[3] for r in before)
    assert before[1][3] == before[0][3] + 1  # one database-wide counter
    run(s, "UPDATE child SET parent_id = 2 WHERE id = 10")
    stamps = dict(rows(s, "SELECT id, CAST(rv AS bigint) FROM child"))
    assert stamps[10] > before[1][3] and stamps[11] == before[1][3]
    # SELECT INTO: the computed column becomes a plain one, the timestamp stays one and keeps its values.
    run(s, "SELECT * INTO child_copy FROM child")
    assert dict(rows(s, "SELECT id, CAST(rv AS bigint) FROM child_copy")) == stamps
    run(s, "INSERT INTO child_copy (id, parent_id, half) VALUES (20, 1, 7)")
    assert rows(s, "SELECT half, CAST(rv AS bigint) FROM child_copy WHERE id = 20") == [(7, stamps[10] + 1)]
    catalog = rows(s, "SELECT o.name, c.name, c.is_computed, c.is_nullable, t.name, c.max_length, c.precision, "
                   "c.scale FROM sys.columns AS c JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
                   "JOIN sys.tables AS o ON o.object_id = c.object_id WHERE o.name IN ('child', 'child_copy') "
                   "AND c.name IN ('half', 'rv') ORDER BY 1, 2")  # fmt: skip
    assert catalog == [
        ("child", "half", True, True, "int", 4, 10, 0),
        ("child", "rv", False, False, "timestamp", 8, 0, 0),
        ("child_copy", "half", False, True, "int", 4, 10, 0),
        ("child_copy", "rv", False, False, "timestamp", 8, 0, 0),
    ]


def test_catalog_views_of_indexes_and_foreign_keys(s):
    indexes = rows(s, "SELECT o.name, i.name, i.index_id, i.type, i.is_unique, i.is_primary_key, "
                   "i.is_unique_constraint FROM sys.indexes AS i JOIN sys.tables AS o ON o.object_id = i.object_id "
                   "WHERE o.name IN ('parent', 'child', 'event_schedule_info') ORDER BY 1, 3")  # fmt: skip
    assert indexes == [
        ("child", "PK_child", 1, 1, True, True, False),
        ("event_schedule_info", "PK_event_schedule_info", 1, 1, True, True, False),
        ("parent", "PK_parent", 1, 1, True, True, False),
        ("parent", "UX_parent_code", 2, 2, True, False, False),
    ]
    run(s, "CREATE TABLE heap (a int NULL, b int NULL); CREATE UNIQUE INDEX UX_heap ON heap (b, a)")
    key = rows(s, "SELECT i.index_id, i.type, i.name, ic.key_ordinal, c.name, ic.is_included_column "
               "FROM sys.indexes AS i LEFT JOIN sys.index_columns AS ic ON ic.object_id = i.object_id "
               "AND ic.index_id = i.index_id LEFT JOIN sys.columns AS c ON c.object_id = ic.object_id "
               "AND c.column_id = ic.column_id WHERE i.object_id = OBJECT_ID('heap') ORDER BY 1, 4")  # fmt: skip
    assert key == [(0, 0, None, None, None, None), (2, 2, "UX_heap", 1, "b", False), (2, 2, "UX_heap", 2, "a", False)]
    fks = rows(s, "SELECT f.name, OBJECT_ID('child') - f.parent_object_id, OBJECT_ID('parent') - "
               "f.referenced_object_id, pc.name, rc.name FROM sys.foreign_keys AS f "
               "JOIN sys.foreign_key_columns AS k ON k.constraint_object_id = f.object_id "
               "JOIN sys.columns AS pc ON pc.object_id = k.parent_object_id AND pc.column_id = k.parent_column_id "
               "JOIN sys.columns AS rc ON rc.object_id = k.referenced_object_id "
               "AND rc.column_id = k.referenced_column_id")  # fmt: skip
    assert fks == [("FK_child_parent", 0, 0, "parent_id", "id")]
    assert error_of(s, "DROP TABLE parent").number == 3726
    run(s, "DROP TABLE child")
    assert rows(s, "SELECT COUNT(*) FROM sys.foreign_keys") == [(0,)]


def test_server_property(s):
    assert rows(s, "SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY(N'Edition'), SERVERPROPERTY('x')") == [
        ("9.00.5000.00", "Express Edition", None)
    ]
