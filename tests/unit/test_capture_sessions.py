"""The rule that tells aximport's captured rows from other sessions' (docs/history.md, "Who
deleted a captured row"): aximport's program is learned per window, as the one that deleted the
most captured rows in it from the slave's own host; every other captured row is named."""

from __future__ import annotations

from ds_replication.capture_sessions import classify, report_lines

AX = ("axImport", "SLAVE1", "SLAVE1\\ds")
CONSOLE_ON_SLAVE = ("Altiris Deployment Console", "SLAVE1", "SLAVE1\\admin")
CONSOLE_REMOTE = ("Altiris Deployment Console", "ADMIN-PC", "DOMAIN\\admin")
W1, W2 = "2026-12-06 01:00:00", "2026-12-07 01:00:00"


def test_inside_the_window_another_program_or_host_is_named_aximport_is_not():
    figures = classify([
        (0, W1, "SLAVE1", AX, 500), (1, W1, "slave1", AX, 900),  # host names compare without case
        (0, W1, "SLAVE1", CONSOLE_ON_SLAVE, 3), (1, W1, "SLAVE1", CONSOLE_ON_SLAVE, 4),
        (0, W1, "SLAVE1", CONSOLE_REMOTE, 2),
    ])  # fmt: skip
    assert figures["import_sessions"] == ["axImport on slave1"]
    assert (figures["outside_import_rows"], figures["outside_import_detail_rows"]) == (5, 4)
    assert figures["outside_import_sessions"] == [
        {"program": "Altiris Deployment Console", "host": "SLAVE1", "login": "SLAVE1\\admin", "rows": 3,
         "detail_rows": 4},
        {"program": "Altiris Deployment Console", "host": "ADMIN-PC", "login": "DOMAIN\\admin", "rows": 2,
         "detail_rows": 0},
    ]  # fmt: skip


def test_outside_every_window_even_aximports_program_is_named():
    figures = classify([(0, W1, "SLAVE1", AX, 10), (0, None, "", AX, 1), (0, None, "", CONSOLE_REMOTE, 2)])
    assert figures["outside_import_rows"] == 3
    assert [s["rows"] for s in figures["outside_import_sessions"]] == [2, 1]


def test_each_window_learns_its_own_and_a_window_without_the_slaves_host_has_none():
    figures = classify([
        (0, W1, "SLAVE1", AX, 10),
        (0, W2, "SLAVE1", ("axImport 2", "SLAVE1", "SLAVE1\\ds"), 7),  # a DS upgraded between the nights
        (0, W2, "SLAVE1", AX, 1),
        (0, W2, "SLAVE1", CONSOLE_REMOTE, 50),  # another host never passes for aximport
    ])  # fmt: skip
    assert figures["import_sessions"] == ["axImport 2 on slave1", "axImport on slave1"]
    assert figures["outside_import_rows"] == 51
    only_remote = classify([(0, W1, "SLAVE1", CONSOLE_REMOTE, 4)])
    assert only_remote["import_sessions"] == [] and only_remote["outside_import_rows"] == 4


def test_no_captured_row_no_report_lines():
    assert classify([])["outside_import_rows"] == 0
    assert report_lines(classify([(0, W1, "SLAVE1", AX, 10)])) == []
    lines = report_lines(classify([(0, W1, "SLAVE1", AX, 10), (0, None, "", CONSOLE_REMOTE, 2)]))
    assert "2 history rows (+0 detail rows) were deleted by another session than aximport's" in lines[0]
    assert "deleted by program 'Altiris Deployment Console' on host 'ADMIN-PC' as 'DOMAIN\\\\admin'" in lines[1]
