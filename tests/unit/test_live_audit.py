"""The live audit (tests/history_audit.py) on hand-made tables: every verdict it can give."""

from __future__ import annotations

import datetime as dt

from tests.history_audit import HISTORY_TABLES, HistorySnapshot, _keyed, live_audit
from tests.lab.ds_engine import Entry

(BACKUP, ARCHIVE), (INFO_BACKUP, INFO_ARCHIVE) = HISTORY_TABLES.values()


def run(schedule_id: int, status: str = "in progress", end: str | None = None) -> dict:
    return {
        "schedule_id": schedule_id,
        "computer_id": 7,
        "event_id": 9,
        "status": status,
        "start_time": "2026-01-01 02:00:00.010",
        "end_time": end,
    }


def state(live=(), backup=(), archive=()) -> HistorySnapshot:
    rows = {"event_schedule": list(live), BACKUP: list(backup), ARCHIVE: list(archive)}
    rows |= {"event_schedule_info": [], INFO_BACKUP: [], INFO_ARCHIVE: []}
    return HistorySnapshot(schedule=_keyed(rows["event_schedule"], ("schedule_id",)), info={}, rows=rows)


def entry(seq: int, op: str, row: dict) -> Entry:
    return Entry(seq, "", op, "event_schedule", (row["schedule_id"],), row)


DONE = run(2, "completed", "2026-01-01 02:05:00.000")
WRITTEN = [entry(1, "insert", run(2)), entry(2, "update", DONE), entry(3, "insert", run(3))]


def test_every_row_in_its_last_version_live_or_archived_passes():
    archived = {**run(3), "ds_replication_reason": "job removed", "ds_replication_archived_at": "x"}
    conflict = {**run(1, "old"), "ds_replication_reason": "conflict: older version"}
    after = state(live=[run(1), DONE], archive=[archived, conflict])
    audit = live_audit(state(live=[run(1)]), WRITTEN, after, run_failed=False)
    s = audit.schedule
    assert audit.ok, audit.summary()
    assert (s.tracked, s.inserted, s.updated, s.live, s.archived, s.kept) == (3, 2, 1, 2, 1, 3)


def test_lost_stale_and_duplicated_rows_are_named():
    after = state(live=[run(1), run(2)], archive=[run(1)])  # 2 restored as before its update, 3 gone
    s = live_audit(state(live=[run(1)]), WRITTEN, after, run_failed=False).schedule
    assert (s.lost_keys, s.stale_keys, s.duplicated_keys) == (((3,),), ((2,),), ((1,),))


def test_the_backup_counts_only_for_a_failed_run():
    after = state(live=[run(1)], backup=[DONE, run(3)])
    failed = live_audit(state(live=[run(1)]), WRITTEN, after, run_failed=True).schedule
    assert (failed.held, failed.lost) == (2, 0)
    assert live_audit(state(live=[run(1)]), WRITTEN, after, run_failed=False).schedule.lost == 2


def test_datetimes_read_as_values_compare_as_the_journal_text():
    read = {**DONE, "start_time": dt.datetime(2026, 1, 1, 2, 0, 0, 10000), "end_time": dt.datetime(2026, 1, 1, 2, 5)}
    audit = live_audit(state(), WRITTEN[:2], state(live=[read]), run_failed=False)
    assert audit.schedule.live == 1 and audit.ok
