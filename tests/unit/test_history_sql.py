"""The history scripts as rendered for a DS catalog: what they may and may not do."""

from __future__ import annotations

import re

import pytest
import sqlfluff

from ds_replication.catalog import HistoryTable
from ds_replication.sql import quote_name
from ds_replication.templates import HISTORY_SCRIPTS, render, sample_tables


def _render(name: str, identity: bool = False, **extra) -> str:
    context = {"fingerprints": {}, "changed_event_ids": [], "restore_changed_jobs": True} | extra
    return render(name, database="express", tables=sample_tables(identity), **context)


def _statements(sql: str) -> list[str]:
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in code.split(";") if s.strip()]


@pytest.mark.parametrize("identity", [False, True])
@pytest.mark.parametrize("name", HISTORY_SCRIPTS)
def test_rendered_script_passes_sqlfluff(name, identity):
    sql = _render(name, identity, fingerprints={7: "0" * 64}, changed_event_ids=[7])
    violations = sqlfluff.lint(sql, dialect="tsql", config_path=".sqlfluff")
    assert violations == [], violations


@pytest.mark.parametrize("name", HISTORY_SCRIPTS)
def test_every_script_changes_data_in_one_transaction_with_xact_abort(name):
    statements = _statements(_render(name))
    assert statements[0] == "USE [express]"
    assert statements.index("SET XACT_ABORT ON") < statements.index("BEGIN TRANSACTION")
    assert statements.count("BEGIN TRANSACTION") == 1
    commit = statements.index("COMMIT TRANSACTION")
    # the only result set comes last, after the commit: nothing that can fail follows rows
    assert [s for s in statements[commit + 1 :]] == [statements[-1]]
    assert statements[-1].startswith("SELECT")
    assert "GO" not in re.findall(r"\bGO\b", _render(name))


def test_backup_never_drops_a_table():
    sql = _render("backup_history.sql", fingerprints={1: "a" * 64})
    assert not [s for s in _statements(sql) if "DROP" in s.upper()]
    # a leftover backup is added to by primary key, not replaced
    assert "DELETE b FROM [event_schedule_backup] AS b" in sql
    assert "WHERE l.[schedule_id] = b.[schedule_id]" in sql


def test_restore_never_drops_and_matches_by_primary_key():
    sql = _render("restore_history.sql")
    assert not [s for s in _statements(sql) if "DROP" in s.upper()]
    assert (
        "NOT EXISTS (SELECT 1 FROM [event_schedule_info] AS l WHERE l.[schedule_id] = b.[schedule_id] "
        "AND l.[info_id] = b.[info_id])" in sql
    )


def test_verify_drops_backup_only_when_nothing_is_lost():
    sql = _render("verify_history.sql")
    guard = sql.index("IF @lost_rows = 0 AND @lost_detail_rows = 0")
    drops = [m.start() for m in re.finditer("DROP TABLE", sql)]
    assert drops and all(d > guard for d in drops)
    assert "INSERT INTO [event_schedule_archive]" in sql


def test_identity_insert_is_switched_on_and_off_around_the_restore_only():
    sql = _render("restore_history.sql", identity=True)
    on = sql.index("SET IDENTITY_INSERT [event_schedule] ON")
    insert = sql.index("INSERT INTO [event_schedule] (")
    off = sql.index("SET IDENTITY_INSERT [event_schedule] OFF")
    assert on < insert < off
    assert "IDENTITY_INSERT" not in _render("restore_history.sql", identity=False)
    # backups never inherit the IDENTITY property
    backup = _render("backup_history.sql", identity=True)
    assert "[schedule_id] + 0 AS [schedule_id]" in backup


def test_changed_jobs_are_held_back_only_when_asked():
    held = _render("restore_history.sql", changed_event_ids=[5], restore_changed_jobs=False)
    restored = _render("restore_history.sql", changed_event_ids=[5], restore_changed_jobs=True)
    assert "f.[changed] = 1" in held.split("SET @restored_rows = @@ROWCOUNT")[0]
    assert "f.[changed] = 1" not in restored.split("SET @restored_rows = @@ROWCOUNT")[0]
    assert "UPDATE [ds_replication_fingerprint] SET [changed] = 1 WHERE [event_id] = 5" in held


@pytest.mark.parametrize("bad", ["a]b", "x; DROP TABLE event", "", "1abc", "name with space", "é" * 3])
def test_identifiers_are_validated_not_escaped(bad):
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        quote_name(bad)


def test_a_catalog_column_that_is_not_a_safe_identifier_is_refused():
    table = HistoryTable("event_schedule", "event", "event_id", ("schedule_id", "x]; DROP"), ("schedule_id",), None)
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        render(
            "restore_history.sql",
            database="express",
            tables=[table],
            changed_event_ids=[],
            restore_changed_jobs=True,
        )


@pytest.mark.parametrize("digest", ["'; DROP TABLE event; --", "A" * 64, "0" * 63])
def test_fingerprints_must_be_hex_digests(digest):
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        _render("backup_history.sql", fingerprints={1: digest})


def test_event_ids_must_be_integers():
    with pytest.raises(ValueError):
        _render("restore_history.sql", changed_event_ids=["1; DROP TABLE event"])
