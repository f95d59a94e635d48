"""The history steps on a DS whose history columns have a collation of their own, and on one
whose DS upgrade changes a column's collation while a backup is held.

SQL Server compares two character columns only when they have one collation ("Collation
Precedence (Transact-SQL)": two different implicit collations raise Msg 468); `ALTER TABLE ...
ADD` and `ALTER COLUMN` without `COLLATE` give a column the database's default ("ALTER TABLE").
The lab follows both (tests/lab_tests/test_tsql_collation.py). Each test failed on the code
before its fix.
"""

from __future__ import annotations

import pytest

from ds_replication import history, host_checks
from ds_replication.catalog import CatalogError, read_history_tables
from tests.integration.test_history_variants import DATABASE, SLAVE, assert_kept, connect, lab_with, night, versions
from tests.lab.ds_schema import HISTORY_COLLATION

DEFAULT = "SQL_Latin1_General_CP1_CI_AS"
COLLATIONS = (
    "SELECT t.name AS t, c.name AS c, c.collation_name AS collation FROM sys.columns AS c "
    "INNER JOIN sys.tables AS t ON t.object_id = c.object_id WHERE c.collation_name IS NOT NULL"
)


def collations(lab) -> dict[tuple[str, str], str]:
    """(table, column): collation of every character column of the package's history tables."""
    return {
        (r["t"], r["c"]): r["collation"]
        for r in lab.sql(SLAVE, COLLATIONS)
        if r["t"].startswith("ds_replication_event_schedule")
    }


def test_a_history_with_its_own_collation_is_kept_when_the_ds_widens_and_adds_columns():
    """History columns collated Latin1_General_CS_AS in a database whose default is
    SQL_Latin1_General_CP1_CI_AS. A DS service pack widens event_schedule_info.message and adds
    a column, both in that collation. The backup is made anew each night (SELECT ... INTO copies
    the collations); the archive stays from the first night and is altered. Before the fix it
    took the database's default for both columns (ALTER TABLE without COLLATE), and the next
    night failed with Msg 468 where verify compares the held rows with the archived ones."""
    with lab_with("history_collation") as lab:
        first = night(lab)  # the package's tables are made: every column as in the live table
        assert first["verify"]["lost_rows"] == 0, first
        lab.sql(SLAVE, f"ALTER TABLE event_schedule_info ALTER COLUMN message nvarchar(1000) COLLATE "
                       f"{HISTORY_COLLATION} NULL")  # fmt: skip
        lab.sql(SLAVE, f"ALTER TABLE event_schedule_info ADD note nvarchar(40) COLLATE {HISTORY_COLLATION} NULL")
        lab.sql(SLAVE, "UPDATE event_schedule_info SET note = N'Case' WHERE info_id = 1")
        lab.sql(SLAVE, "UPDATE event_schedule_info SET note = N'case' WHERE info_id = 2")
        before = versions(lab)
        figures = night(lab)
        assert_kept(before, versions(lab))
        assert figures["restore"]["refused_rows"] == 0, figures
        made = collations(lab)
        archive = "ds_replication_event_schedule_info_archive"
        assert made[(archive, "message")] == made[(archive, "note")] == HISTORY_COLLATION, made
        assert made[(archive, "ds_replication_reason")] == DEFAULT, made


@pytest.mark.parametrize("schema", ["default", "history_collation"])
def test_a_column_the_ds_gives_another_collation_is_refused_by_name_before_anything_changes(schema):
    """A night failed after its backup; a DS upgrade then gives event_schedule_info.message a
    binary collation. The history steps compare every column of a detail row, so the held rows
    and the live ones could not be compared (Msg 468), or would match by other rules. Before the
    fix the next backup failed midway with an unexplained Msg 468 (rolled back), and preflight and
    the survey said nothing. Now the backup, preflight and the survey (the check "package's
    tables") refuse it by name with the same words, and the held rows stay as they are."""
    old = HISTORY_COLLATION if schema == "history_collation" else DEFAULT
    with lab_with(schema) as lab:
        with connect(lab) as conn:
            history.backup(conn, DATABASE)
        held = versions(lab)
        recollate = "ALTER TABLE {} ALTER COLUMN message nvarchar(500) COLLATE Latin1_General_BIN NULL"
        lab.sql(SLAVE, recollate.format("event_schedule_info"))
        expected = f"column message of event_schedule_info is collated Latin1_General_BIN now but {old} in "
        with connect(lab) as conn:
            check = host_checks.package_tables(conn, read_history_tables(conn))
            with pytest.raises(CatalogError) as refused:
                history.backup(conn, DATABASE)
        assert not check.ok and check.found.startswith(expected), check
        assert "ds_replication_event_schedule_info_backup" in check.found and "ALTER COLUMN" in check.why, check
        message = str(refused.value)
        assert message == f"{check.found}. {check.why}", message
        assert "nothing was changed" in message
        assert versions(lab) == held
        assert collations(lab)[("ds_replication_event_schedule_info_backup", "message")] == old
        # once an administrator has altered the package's tables to the live collation, the night goes on
        for table in ("ds_replication_event_schedule_info_backup", "ds_replication_event_schedule_info_archive"):
            lab.sql(SLAVE, recollate.format(table))
        with connect(lab) as conn:
            assert host_checks.package_tables(conn, read_history_tables(conn)).ok
        figures = night(lab)
        assert figures["verify"]["lost_rows"] == 0, figures
