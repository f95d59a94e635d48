"""The history steps against DS schemas the lab can take (`up --schema NAME`), each a way a real
`express` database may differ from the lab's default: no primary key, NULLs, keys the application
reuses, rowversion and computed columns, a foreign key, an INSERT trigger.

Each night here is the package's own history steps (`ds_replication.history`) through pymssql and
the lab's TDS server, around a real `aximport /o` of the slave's Global folder run through the
lab's WinRM shell (its delete triggers take the history, as a DS's do). The audit then accounts
for every history row that existed at any moment: live, or archived, never lost, never twice.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ds_replication import history
from ds_replication.catalog import CatalogError, read_history_tables
from tests.labctl import Lab

SLAVE = "slave1"
DATABASE = "express"
SCHEDULE = ("schedule_id",)
INFO = ("schedule_id", "info_id")
NIGHTS = iter(range(1, 1000))


def reimport() -> str:
    """Export the slave's Global folder and import it back with /o: its jobs are deleted and
    inserted again, their history deleted by the DS's triggers. A new file each night (an
    existing target makes axexport prompt)."""
    name = f"dsrepl_test_{next(NIGHTS)}.bin"
    return f'axexport /f "Global" /s {name} && aximport {name} /o'


@contextlib.contextmanager
def lab_with(schema: str) -> Iterator[Lab]:
    root = Path(tempfile.mkdtemp(prefix="ds-variant-"))
    lab = Lab(root / "lab").up(slaves=1, schema=schema)
    try:
        yield lab
    finally:
        lab.down()
        shutil.rmtree(root, ignore_errors=True)


def connect(lab: Lab) -> Any:
    return lab.connect(SLAVE, DATABASE)


def rows(lab: Lab, table: str) -> list[dict[str, Any]]:
    if not lab.table_exists(SLAVE, table):
        return []
    return [
        {k: v for k, v in r.items() if not k.lower().startswith("ds_replication_") and k not in ("row_version",)}
        for r in lab.sql(SLAVE, f"SELECT * FROM [{table}]")
    ]


def versions(lab: Lab) -> dict[str, list[dict[str, Any]]]:
    return {
        "schedule": rows(lab, "event_schedule"),
        "info": rows(lab, "event_schedule_info"),
        "schedule_archive": rows(lab, "ds_replication_event_schedule_archive"),
        "info_archive": rows(lab, "ds_replication_event_schedule_info_archive"),
        "schedule_backup": rows(lab, "ds_replication_event_schedule_backup"),
        "info_backup": rows(lab, "ds_replication_event_schedule_info_backup"),
    }


def _frozen(row: dict[str, Any]) -> tuple:
    return tuple(sorted((k.lower(), repr(v)) for k, v in row.items()))


def audit(seen: list[dict[str, Any]], after: dict[str, list[dict[str, Any]]], table: str) -> dict[str, list]:
    """Every row in `seen` is at the end live or archived, exactly as it was last seen; no live
    row twice. Rows are compared whole (NULLs included), so a keyless table is audited too."""
    live = [_frozen(r) for r in after[table]]
    kept = set(live) | {_frozen(r) for r in after[f"{table}_archive"]}
    return {
        "lost": [r for r in seen if _frozen(r) not in kept],
        "duplicated": sorted({r for r in live if live.count(r) > 1}),
    }


def night(lab: Lab, during: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """backup_history, (what happens during the night), arm the capture, aximport, restore, verify."""
    with connect(lab) as conn:
        figures = {"backup": history.backup(conn, DATABASE)}
        if during:
            during(conn)
        history.arm_capture(conn, DATABASE)
    result = lab.shell(SLAVE, reimport())
    assert result.returncode == 0, result.stdout + result.stderr
    with connect(lab) as conn:
        history.disarm_capture(conn, DATABASE)
        figures["restore"] = history.restore(conn, DATABASE, restore_changed_jobs=True)
        figures["verify"] = history.verify(conn, DATABASE)
    return figures


def import_done(lab: Lab) -> None:
    """backup, arm, aximport, disarm: the history the import deleted is held in the backup."""
    with connect(lab) as conn:
        history.backup(conn, DATABASE)
        history.arm_capture(conn, DATABASE)
    result = lab.shell(SLAVE, reimport())
    assert result.returncode == 0, result.stdout + result.stderr
    with connect(lab) as conn:
        history.disarm_capture(conn, DATABASE)


def assert_kept(seen: dict[str, list], after: dict[str, list]) -> None:
    for table in ("schedule", "info"):
        found = audit(seen[table], after, table)
        assert found == {"lost": [], "duplicated": []}, (table, found)
    assert not after["schedule_backup"], "the backup is dropped once every row is accounted for"


def test_a_unique_index_is_a_key_and_nulls_match():
    with lab_with("info_unique_index") as lab:
        lab.sql(SLAVE, "UPDATE event_schedule_info SET message = NULL WHERE info_id = 2")
        with connect(lab) as conn:
            info = read_history_tables(conn)[1]
        assert info.key == INFO and info.key_source.startswith("unique index"), info
        before = versions(lab)
        assert any(r["message"] is None for r in before["info"])
        figures = night(lab)
        after = versions(lab)
        assert_kept(before, after)
        assert len(after["info"]) == len(before["info"]), figures
        # the archive is indexed by the live table's key (a keyless table gets none: see below)
        indexed = lab.sql(
            SLAVE,
            "SELECT c.name AS name FROM sys.indexes AS i INNER JOIN sys.index_columns AS ic "
            "ON ic.object_id = i.object_id AND ic.index_id = i.index_id INNER JOIN sys.columns AS c "
            "ON c.object_id = ic.object_id AND c.column_id = ic.column_id "
            "WHERE i.name = 'ds_replication_event_schedule_info_archive_key' ORDER BY ic.key_ordinal",
        )
        assert [r["name"] for r in indexed] == list(INFO), indexed


def test_a_table_with_no_key_and_nulls_is_restored_once():
    with lab_with("info_no_key") as lab:
        before = versions(lab)
        assert any(r["message"] is None for r in before["info"]), "the variant seeds NULL messages"
        figures = night(lab)
        after = versions(lab)
        assert_kept(before, after)
        assert len(after["info"]) == len(before["info"]), figures
        assert figures["verify"]["lost_detail_rows"] == 0
        assert not lab.sql(
            SLAVE, "SELECT name FROM sys.indexes WHERE name = 'ds_replication_event_schedule_info_archive_key'"
        )


def test_a_keyless_table_with_a_large_column_is_refused_before_anything_changes():
    with lab_with("info_no_key") as lab:
        lab.sql(SLAVE, "ALTER TABLE event_schedule_info ADD notes nvarchar(max) NULL")
        with connect(lab) as conn, pytest.raises(CatalogError, match=r"event_schedule_info .*no primary key.*notes"):
            history.backup(conn, DATABASE)
        assert not lab.table_exists(SLAVE, "ds_replication_event_schedule_backup")


def test_a_key_the_application_reuses_keeps_both_rows():
    with lab_with("reused_keys") as lab:
        seen = versions(lab)
        with connect(lab) as conn:
            # a failed night: the backup is taken, then a crash in the middle of aximport leaves the
            # job of the highest schedule_id without its history, held in the backup only
            history.backup(conn, DATABASE)
        top = lab.sql(SLAVE, "SELECT TOP 1 schedule_id, event_id FROM event_schedule ORDER BY schedule_id DESC")[0]
        lab.sql(SLAVE, f"DELETE FROM event_schedule WHERE event_id = {int(top['event_id'])}")
        # the DS writes a new row for another job: the application gives it the freed key
        other = lab.sql(SLAVE, "SELECT TOP 1 event_id, computer_id FROM event_schedule")[0]
        reused = lab.scalar(SLAVE, "SELECT MAX(schedule_id) + 1 AS n FROM event_schedule")
        assert reused <= top["schedule_id"], "the variant reuses a key held in the backup"
        lab.sql(
            SLAVE,
            "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time, end_time) "
            f"VALUES ({reused}, {other['computer_id']}, {other['event_id']}, N'completed', "
            "'2026-11-29 01:00:00.000', '2026-11-29 01:05:00.000')",
        )
        seen["schedule"] += [r for r in versions(lab)["schedule"] if r["schedule_id"] == reused]
        figures = night(lab)
        after = versions(lab)
        assert_kept(seen, after)
        conflicts = [r for r in after["schedule_archive"] if r["schedule_id"] == reused]
        assert [r["event_id"] for r in conflicts] == [top["event_id"]], (conflicts, figures)
        assert [r["event_id"] for r in after["schedule"] if r["schedule_id"] == reused] == [other["event_id"]]
        reasons = lab.sql(
            SLAVE, "SELECT DISTINCT ds_replication_reason AS r FROM ds_replication_event_schedule_archive"
        )
        assert {r["r"] for r in reasons} == {"conflict: its key was given to another row"}, reasons


def test_rowversion_and_computed_columns_are_never_inserted():
    with lab_with("rowversion_computed") as lab:
        with connect(lab) as conn:
            schedule = read_history_tables(conn)[0]
        assert "row_version" not in schedule.columns and "duration_s" not in schedule.columns, schedule.columns
        before = versions(lab)
        figures = night(lab)
        after = versions(lab)
        assert_kept(
            {k: [{c: v for c, v in r.items() if c != "duration_s"} for r in rs] for k, rs in before.items()},
            {k: [{c: v for c, v in r.items() if c != "duration_s"} for r in rs] for k, rs in after.items()},
        )
        assert figures["restore"]["restored_rows"] > 0


def test_a_row_the_foreign_key_refuses_is_archived_and_the_rest_restored():
    with lab_with("fk_computer") as lab:
        before = versions(lab)
        gone = before["schedule"][0]["computer_id"]

        def computer_deleted(conn: Any) -> None:
            # while the backup is held, the DS deletes a computer (its history first: the
            # foreign key allows nothing else); the backup still holds that history
            lab.sql(SLAVE, f"DELETE FROM event_schedule WHERE computer_id = {gone}")
            lab.sql(SLAVE, f"DELETE FROM computer WHERE computer_id = {gone}")

        figures = night(lab, during=computer_deleted)
        after = versions(lab)
        assert_kept(before, after)
        refused = [r for r in after["schedule_archive"] if r["computer_id"] == gone]
        assert refused and figures["restore"]["refused_rows"] == len(refused), figures
        assert not [r for r in after["schedule"] if r["computer_id"] == gone]
        assert len(after["schedule"]) == len(before["schedule"]) - len(refused)
        reasons = lab.sql(
            SLAVE, "SELECT DISTINCT ds_replication_reason AS r FROM ds_replication_event_schedule_archive"
        )
        assert all("547" in r["r"] for r in reasons), reasons


def test_an_insert_trigger_on_the_history_does_not_duplicate_details():
    with lab_with("insert_trigger") as lab:
        before = versions(lab)
        night(lab)
        after = versions(lab)
        assert_kept(before, after)
        assert len(after["info"]) == len(before["info"])


def test_a_failing_capture_trigger_rolls_the_import_back_and_drops_no_row():
    with lab_with("default") as lab:
        with connect(lab) as conn:
            history.backup(conn, DATABASE)
            history.arm_capture(conn, DATABASE)
        before = versions(lab)
        jobs = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event")
        # the trigger's target is gone (dropped by hand): the trigger fails, so must the delete
        lab.sql(SLAVE, "DROP TABLE ds_replication_event_schedule_backup")
        result = lab.shell(SLAVE, reimport())
        assert result.returncode != 0, result.stdout
        after = versions(lab)
        assert after["schedule"] == before["schedule"] and after["info"] == before["info"]
        assert lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event") == jobs


def test_a_column_the_ds_adds_later_reaches_the_backup_and_the_archive():
    with lab_with("default") as lab:
        night(lab)  # the archive exists from here on
        # a DS service pack adds a column, after the archive was made
        lab.sql(SLAVE, "ALTER TABLE event_schedule ADD agent_version nvarchar(20) NULL")
        lab.sql(SLAVE, "UPDATE event_schedule SET agent_version = N'6.9.453' WHERE schedule_id % 2 = 0")
        before = versions(lab)
        figures = night(lab)
        after = versions(lab)
        assert_kept(before, after)
        assert figures["verify"]["lost_rows"] == 0
        added = lab.sql(
            SLAVE,
            "SELECT name FROM sys.columns WHERE name = 'agent_version' "
            "AND object_id = OBJECT_ID('dbo.ds_replication_event_schedule_archive')",
        )
        assert added == [{"name": "agent_version"}], added
        kept = [r["agent_version"] for r in after["schedule"] if r["schedule_id"] % 2 == 0]
        assert kept and set(kept) == {"6.9.453"}, "the new column's values are restored too"


def test_exact_duplicate_rows_of_a_keyless_table_keep_their_multiplicity():
    """info_duplicates: every fourth detail row is an exact duplicate pair; without a key the two
    copies are two rows. The capture sees both in one `deleted`; the restore tops a held row up
    to the number of copies held (one already live: before the fix it restored none), and verify
    counts copies (before the fix a pair with one copy left was "live", 0 lost)."""
    with lab_with("info_duplicates") as lab:
        seen = versions(lab)
        (pair,) = lab.sql(
            SLAVE,
            "SELECT TOP 1 i.schedule_id, i.info_id FROM event_schedule_info AS i INNER JOIN event_schedule AS s "
            "ON s.schedule_id = i.schedule_id INNER JOIN event AS e ON e.event_id = s.event_id INNER JOIN "
            "event_folder AS f ON f.folder_id = e.folder_id WHERE f.name = N'Global' "
            "GROUP BY i.schedule_id, i.info_id HAVING COUNT(*) = 2",
        )
        where = f"schedule_id = {pair['schedule_id']} AND info_id = {pair['info_id']}"
        count = f"SELECT COUNT(*) AS n FROM event_schedule_info WHERE {where}"
        one_copy = (
            "INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at) "
            "SELECT TOP 1 schedule_id, info_id, status_code, message, logged_at "
            f"FROM ds_replication_event_schedule_info_backup WHERE {where}"
        )
        with connect(lab) as conn:
            history.backup(conn, DATABASE)
            history.arm_capture(conn, DATABASE)
        result = lab.shell(SLAVE, reimport())
        assert result.returncode == 0, result.stdout + result.stderr
        assert lab.sql(SLAVE, count) == [{"n": 0}]
        held = f"SELECT COUNT(*) AS n FROM ds_replication_event_schedule_info_backup WHERE {where}"
        assert lab.scalar(SLAVE, held) == 2
        lab.sql(SLAVE, one_copy)  # one copy is back already (by hand, or an earlier attempt)
        with connect(lab) as conn:
            history.disarm_capture(conn, DATABASE)
            figures = history.restore(conn, DATABASE, restore_changed_jobs=True)
        after = versions(lab)
        expected = Counter(_frozen(r) for r in seen["info"])
        found = Counter(_frozen(r) for r in after["info"])
        short = {row: n - found[row] for row, n in expected.items() if found[row] < n}
        assert short == {}, (short, figures)
        assert lab.sql(SLAVE, count) == [{"n": 2}]
        # one copy of the pair goes (both, and one comes back): verify counts it lost
        lab.sql(SLAVE, f"DELETE FROM event_schedule_info WHERE {where}")
        lab.sql(SLAVE, one_copy)
        with connect(lab) as conn, pytest.raises(history.HistoryLost) as lost:
            history.verify(conn, DATABASE)
        assert lost.value.figures["lost_detail_rows"] == 1, lost.value.figures
        assert lab.table_exists(SLAVE, "ds_replication_event_schedule_info_backup")


def test_a_keyless_row_held_more_than_a_hundred_times_and_a_row_by_row_restore_keep_every_copy():
    """info_duplicates, one Global detail row 150 times over. The set-based restore numbered the copies
    it put back up to 100 (50 short before the fix); the row-by-row fallback restored a held row only
    when no copy of it was live (a pair with one copy back stayed one short before the fix)."""
    with lab_with("info_duplicates") as lab:
        (row,) = lab.sql(
            SLAVE,
            "SELECT TOP 1 i.schedule_id, i.info_id FROM event_schedule_info AS i INNER JOIN event_schedule AS s "
            "ON s.schedule_id = i.schedule_id INNER JOIN event AS e ON e.event_id = s.event_id INNER JOIN "
            "event_folder AS f ON f.folder_id = e.folder_id WHERE f.name = N'Global' "
            "GROUP BY i.schedule_id, i.info_id HAVING COUNT(*) = 1",
        )
        where = f"schedule_id = {row['schedule_id']} AND info_id = {row['info_id']}"
        copy = (
            "INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at) "
            f"SELECT TOP 1 schedule_id, info_id, status_code, message, logged_at FROM {{source}} WHERE {where};"
        )
        lab.sql(SLAVE, "\n".join([copy.format(source="event_schedule_info")] * 149))
        assert lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM event_schedule_info WHERE {where}") == 150
        seen = Counter(_frozen(r) for r in versions(lab)["info"])
        import_done(lab)
        with connect(lab) as conn:
            history.restore(conn, DATABASE, restore_changed_jobs=True)
        found = Counter(_frozen(r) for r in versions(lab)["info"])
        assert {r: n - found[r] for r, n in seen.items() if found[r] != n} == {}, "set-based restore"

        # the fallback, row by row: nothing live but one copy of a duplicate pair, put back by hand
        lab.sql(SLAVE, "DELETE FROM event_schedule_info")
        (pair,) = lab.sql(
            SLAVE,
            "SELECT TOP 1 schedule_id, info_id FROM ds_replication_event_schedule_info_backup "
            "GROUP BY schedule_id, info_id HAVING COUNT(*) = 2",
        )
        pair_where = f"schedule_id = {pair['schedule_id']} AND info_id = {pair['info_id']}"
        lab.sql(SLAVE, copy.replace(where, pair_where).format(source="ds_replication_event_schedule_info_backup"))
        held = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM ds_replication_event_schedule_info_backup")
        with connect(lab) as conn:
            info = read_history_tables(conn)[1]
            context: dict[str, Any] = {"database": DATABASE, "t": info, "restore_changed_jobs": True}
            restored, refused = history._restore_row_by_row(conn, context)
            assert (restored, refused) == (held - 1, 0)
            history.verify(conn, DATABASE)
        found = Counter(_frozen(r) for r in versions(lab)["info"])
        assert {r: n - found[r] for r, n in seen.items() if found[r] != n} == {}, "row by row"
