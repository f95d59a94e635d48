"""Which job archives and archive-table rows the retention keeps (ds_replication.retention)."""

from __future__ import annotations

import datetime as dt

from ds_replication.config import Retention
from ds_replication.retention import archives_of, row_cutoff, split

TODAY = dt.date(2026, 12, 5)


def name(slave: str, date: str, key: str, n: int = 1, partial: bool = False) -> str:
    return f"{slave}_{date}_{key * 12}_{n}{'.part' if partial else ''}.bin"


def test_archives_are_grouped_by_run_newest_first_and_other_slaves_files_are_not_theirs():
    files = {
        name("site", "20261201", "a"): 10.0,
        name("site", "20261201", "a", 2): 11.0,
        name("site", "20261201", "b"): 50.0,  # a second run that night, later
        name("site", "20261101", "c", partial=True): 5.0,  # a try that died: goes with its run
        name("site_a", "20261203", "d"): 60.0,  # slave site_a, not site
        "dsrepl_site_0123456789ab_1.bin": 70.0,
        "notes.txt": 1.0,
    }
    archives = archives_of("site", files)
    assert [(a.date.isoformat(), a.key) for a in archives] == [
        ("2026-12-01", "b" * 12),
        ("2026-12-01", "a" * 12),
        ("2026-11-01", "c" * 12),
    ]
    assert archives[1].files == (name("site", "20261201", "a"), name("site", "20261201", "a", 2))
    assert archives[2].files == (name("site", "20261101", "c", partial=True),)


def test_the_last_nights_and_at_least_min_archives_are_kept():
    dates = ["20261204", "20261120", "20261001", "20260901", "20260801"]
    files = {name("site", d, k): float(n) for n, (d, k) in enumerate(zip(dates, "abcde", strict=True))}
    archives = archives_of("site", files)
    kept, removed = split(archives, Retention(nights=30, min_archives=3), TODAY)
    assert [a.key[0] for a in kept] == ["a", "b", "c"]  # two within 30 nights, a third by count
    assert [a.key[0] for a in removed] == ["d", "e"]
    kept, removed = split(archives, Retention(nights=100, min_archives=1), TODAY)
    assert [a.key[0] for a in kept] == ["a", "b", "c", "d"] and [a.key[0] for a in removed] == ["e"]
    assert split([], Retention(), TODAY) == ([], [])


def test_rows_go_only_when_archived_a_day_before_the_oldest_archive_kept_and_the_nights():
    files = {name("site", "20261001", "a"): 1.0}
    kept, _ = split(archives_of("site", files), Retention(nights=30, min_archives=5), TODAY)
    assert row_cutoff(kept, Retention(nights=30), TODAY) == dt.date(2026, 9, 30)
    assert row_cutoff([], Retention(nights=30), TODAY) == dt.date(2026, 11, 4)
