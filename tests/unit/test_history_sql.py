"""The history scripts as rendered for a DS catalog: what they may and may not do."""

from __future__ import annotations

import re

import pytest
import sqlfluff

from ds_replication.history_table import HistoryTable
from ds_replication.sql import quote_name
from ds_replication.templates import render, sample_scripts, sample_tables

# Scripts that change data, each in one transaction.
CHANGING = ("history_tables", "backup_history", "verify_history", "adopt_legacy", "restore_history_event_schedule")


def _statements(sql: str) -> list[str]:
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in code.split(";") if s.strip()]


@pytest.mark.parametrize("identity", [False, True])
def test_every_rendered_script_passes_sqlfluff(identity):
    for name, sql in sample_scripts(identity).items():
        violations = sqlfluff.lint(sql, dialect="tsql", config_path=".sqlfluff")
        assert violations == [], (name, violations)


@pytest.mark.parametrize("name", CHANGING)
def test_every_script_changes_data_in_one_transaction_with_xact_abort(name):
    sql = sample_scripts(False)[name]
    statements = _statements(sql)
    assert statements[0] == "USE [express]"
    assert statements.index("SET XACT_ABORT ON") < statements.index("BEGIN TRANSACTION")
    assert statements.count("BEGIN TRANSACTION") == 1
    commit = statements.index("COMMIT TRANSACTION")
    # the only result set comes last, after the commit: nothing that can fail follows rows
    assert [s for s in statements[commit + 1 :]] == [statements[-1]]
    assert statements[-1].startswith("SELECT")
    assert not re.findall(r"\bGO\b", sql)


def test_tables_have_names_of_their_own_never_the_articles():
    scripts = sample_scripts(False)
    for name, sql in scripts.items():
        # the seed article's script drops event_schedule_backup: never write to that name
        assert not re.search(
            r"(INTO|DELETE \w+ FROM|DROP TABLE|UPDATE) \[dbo\]\.\[event_schedule(_info)?_backup\]", sql
        ), name
    assert "[dbo].[ds_replication_event_schedule_backup]" in scripts["backup_history"]
    assert "[dbo].[ds_replication_event_schedule_info_archive]" in scripts["verify_history"]


def test_backup_never_drops_and_archives_a_held_row_whose_key_another_row_took():
    sql = sample_scripts(False)["backup_history"]
    assert not [s for s in _statements(sql) if "DROP" in s.upper()]
    conflict = sql.index("N'conflict: its key was given to another row'")
    replace = sql.index("DELETE b FROM [dbo].[ds_replication_event_schedule_backup] AS b")
    assert conflict < replace  # archived before the older copies go
    # the same row: key, job, computer and start time
    assert "l.[event_id] = b.[event_id] AND l.[computer_id] = b.[computer_id]" in sql


def test_matching_is_null_safe_on_nullable_columns():
    sql = sample_scripts(False)["verify_history"]
    assert "(l.[message] = b.[message] OR (l.[message] IS NULL AND b.[message] IS NULL))" in sql
    assert "(l.[schedule_id] = b.[schedule_id] OR" not in sql  # a NOT NULL key compares plainly


def test_the_capture_trigger_copies_deleted_rows_into_the_backup():
    sql = sample_scripts(False)["capture_trigger"]
    assert (
        sql.lstrip()
        .splitlines()[[line.startswith("--") for line in sql.splitlines()].index(False)]
        .startswith("CREATE TRIGGER [dbo].[ds_replication_capture_event_schedule]")
    )
    assert "AFTER DELETE" in sql
    assert (
        "INSERT INTO [dbo].[ds_replication_event_schedule_backup] ([schedule_id], [computer_id], [event_id], "
        "[status], [start_time], [end_time], [ds_replication_captured_at], [ds_replication_deleted_by_program], "
        "[ds_replication_deleted_by_host], [ds_replication_deleted_by_login], [ds_replication_deleted_by_spid])\n"
        "    SELECT d.[schedule_id], d.[computer_id], d.[event_id], d.[status], d.[start_time], d.[end_time], "
        "GETDATE() AS [ds_replication_captured_at], APP_NAME() AS [ds_replication_deleted_by_program], "
        "HOST_NAME() AS [ds_replication_deleted_by_host], SUSER_SNAME() AS [ds_replication_deleted_by_login], "
        "@@SPID AS [ds_replication_deleted_by_spid] FROM deleted AS d;\n" in sql
    )  # with who deleted each row: the deleting session, as SQL Server reports it
    # and records what it captured, for the check at disarm (its row identity: key, parent, fixed columns)
    assert sql.rstrip().endswith(
        "INSERT INTO [dbo].[ds_replication_event_schedule_captured] ([schedule_id], [event_id], [computer_id], "
        "[start_time])\n    SELECT d.[schedule_id], d.[event_id], d.[computer_id], d.[start_time] FROM deleted AS d;\n"
        "END;"
    )
    # the DS session's SET ROWCOUNT would limit the copies: lifted first
    assert sql.index("SET ROWCOUNT 0;") < sql.index("INSERT INTO")
    assert "SET LOCK_TIMEOUT 30000;" in sample_scripts(False)["transaction_begin"]
    # a held copy of the deleted row is replaced by its last version, never kept beside it
    assert "DELETE b FROM [dbo].[ds_replication_event_schedule_backup] AS b" in sql
    assert "DROP" not in sql


def test_verify_drops_triggers_and_backup_only_when_nothing_is_lost():
    sql = sample_scripts(False)["verify_history"]
    guard = sql.index("IF @lost_rows = 0 AND @lost_detail_rows = 0")
    drops = [m.start() for m in re.finditer("DROP (TABLE|TRIGGER)", sql)]
    assert drops and all(d > guard for d in drops)
    assert sql.index("DROP TRIGGER") < sql.index("DROP TABLE")
    assert "INSERT INTO [dbo].[ds_replication_event_schedule_archive]" in sql


def test_identity_insert_is_switched_on_and_off_around_the_restore_only():
    sql = sample_scripts(True)["restore_history_event_schedule"]
    on = sql.index("SET IDENTITY_INSERT [dbo].[event_schedule] ON")
    insert = sql.index("INSERT INTO [dbo].[event_schedule] (")
    off = sql.index("SET IDENTITY_INSERT [dbo].[event_schedule] OFF")
    assert on < insert < off
    assert "IDENTITY_INSERT" not in sample_scripts(False)["restore_history_event_schedule"]
    # backups never inherit the IDENTITY property
    assert "[schedule_id] + 0 AS [schedule_id]" in sample_scripts(True)["history_tables"]


def test_changed_jobs_are_held_back_only_when_asked():
    t = sample_tables(False)[0]
    held = render("restore_history.sql", database="express", t=t, restore_changed_jobs=False)
    restored = render("restore_history.sql", database="express", t=t, restore_changed_jobs=True)
    assert "f.[changed] = 1" in held
    assert "f.[changed] = 1" not in restored
    marked = render("mark_changed_jobs.sql", database="express", changed_event_ids=[5])
    assert "UPDATE [dbo].[ds_replication_fingerprint] SET [changed] = 1 WHERE [event_id] = 5" in marked


def test_a_row_by_row_restore_takes_its_key_as_parameters():
    t = sample_tables(False)[1]
    sql = render("restore_row.sql", database="express", t=t, restore_changed_jobs=True)
    assert "b.[schedule_id] = %s AND b.[info_id] = %s" in sql
    assert t.key_params({"schedule_id": 7, "info_id": 2, "message": None}) == (7, 2)


@pytest.mark.parametrize("bad", ["a]b", "x; DROP TABLE event", "", "1abc", "name with space", "é" * 3])
def test_identifiers_are_validated_not_escaped(bad):
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        quote_name(bad)


def test_a_catalog_column_that_is_not_a_safe_identifier_is_refused():
    table = HistoryTable("event_schedule", "event", "event_id", ("schedule_id", "x]; DROP"), ("schedule_id",), None)
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        render("restore_history.sql", database="express", t=table, restore_changed_jobs=True)


@pytest.mark.parametrize("digest", ["'; DROP TABLE event; --", "A" * 64, "0" * 63])
def test_fingerprints_must_be_hex_digests(digest):
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        render("backup_history.sql", database="express", tables=sample_tables(False), fingerprints={1: digest})


def test_event_ids_must_be_integers():
    with pytest.raises(ValueError):
        render("mark_changed_jobs.sql", database="express", changed_event_ids=["1; DROP TABLE event"])


def test_the_capture_trigger_never_reads_a_lob_from_deleted():
    """SQL Server: "Cannot use text, ntext, or image columns in the 'inserted' and 'deleted' tables"
    (Msg 311, at CREATE TRIGGER): the ntext message must come from the backup's copy."""
    info = sample_tables(True)[1]
    assert info.unreadable == ("message",)
    parent = render("capture_trigger.sql", t=sample_tables(True)[0], children=[info])
    own = render("capture_trigger.sql", t=info, children=[])
    for sql in (parent, own):
        assert "d.[message]" not in sql and "deleted.[message]" not in sql
    assert "b.[message]" in own  # the copy's value, kept with the newer version of the row
    plain = render("capture_trigger.sql", t=sample_tables(False)[1], children=[])
    assert "d.[message]" in plain  # without LOBs the trigger copies deleted whole, as before
