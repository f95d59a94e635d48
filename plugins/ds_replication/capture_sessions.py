"""Which captured history rows aximport deleted, and which another session did (the DS console,
a DBA, a job's script): the run's report names the others (docs/history.md, "Who deleted a
captured row").

The capture trigger stamps every row it copies with the deleting session's program, host and
login (APP_NAME(), HOST_NAME(), SUSER_SNAME()) and the time (GETDATE()); import_jobs records each
aximport window in the same clock (include/sql/import_window.sql). aximport's own program name
is not documented and may differ between DS versions, so it is learned, per window: the
program that deleted the most captured rows in that window from the slave's own host (the
computer name import_jobs read there). A captured row is aximport's when it was deleted in a
window by that program on that host; any other captured row came from outside aximport: deleted
outside every window, or in one by another program or from another host. Those rows are kept
and restored like the others: they are named, not dropped.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from ds_replication.catalog import existing_tables, read_history_tables
from ds_replication.history import BACKUP_TABLE
from ds_replication.history_table import HistoryTable
from ds_replication.sql import query, run_script
from ds_replication.templates import render

log = logging.getLogger(__name__)

WINDOW_TABLE = "ds_replication_import_window"
# sessions named in XCom and the log; the counts are always complete
SESSIONS_SHOWN = 20

Session = tuple[str, str, str]  # program, host, login


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def open_window(conn: Any, database: str, host: str) -> dict[str, str]:
    """Record the start of aximport's window (closing any window left open: no aximport runs now)."""
    return _window(run_script(conn, render("import_window.sql", database=database, action="open"), (host,)))


def close_window(conn: Any, database: str) -> dict[str, str]:
    """Record the end of every open window: aximport has exited."""
    return _window(run_script(conn, render("import_window.sql", database=database, action="close")))


def _window(row: dict[str, Any]) -> dict[str, str]:
    return {k: (v.isoformat(sep=" ") if hasattr(v, "isoformat") else _text(v)) for k, v in row.items()}


KEYS = ("outside_import_rows", "outside_import_detail_rows", "outside_import_sessions", "import_sessions")


def report(conn: Any, tables: list[HistoryTable] | None = None) -> dict[str, Any]:
    """`outside_import_rows` and `outside_import_detail_rows` (captured rows not deleted by
    aximport), `outside_import_sessions` (program, host, login and counts of each such session)
    and `import_sessions` (the program and host taken for aximport's in each window).
    `tables`: the history tables as the caller has just read them; without them (the alert mail)
    the catalog is read here, once a backup is found."""
    empty: dict[str, Any] = {"outside_import_rows": 0, "outside_import_detail_rows": 0,
                             "outside_import_sessions": [], "import_sessions": []}  # fmt: skip
    if tables is None:
        if not existing_tables(conn, (BACKUP_TABLE,)):
            return empty
        tables = read_history_tables(conn)
    # one look at the catalog for every table the report reads
    names = tuple(dict.fromkeys((BACKUP_TABLE, WINDOW_TABLE, *(t.backup for t in tables))))
    present = set(existing_tables(conn, names))
    if BACKUP_TABLE not in present:
        return empty
    windows = WINDOW_TABLE in present
    counts: list[tuple[int, str | None, str, Session, int]] = []  # table index, window, window host, session, rows
    for i, t in enumerate(tables):
        if t.backup not in present:
            continue
        for r in query(conn, render("captured_sessions.sql", t=t, windows=windows)):
            window = r.get("window_started_at")
            session = (_text(r["program"]), _text(r["host"]), _text(r["login_name"]))
            counts.append((i, None if window is None else str(window), _text(r.get("window_host")), session,
                           int(r["captured_rows"])))  # fmt: skip
    figures = classify(counts)
    warn(figures)
    return figures


def carried(figures: dict[str, Any]) -> dict[str, Any] | None:
    """The report within a step's result (restore_history's XCom), None when it holds none."""
    if not all(key in figures for key in KEYS):
        return None
    return {key: figures[key] for key in KEYS}


def warn(figures: dict[str, Any]) -> None:
    """Name in the task log the held rows another session than aximport deleted (none: nothing)."""
    if figures["outside_import_rows"] or figures["outside_import_detail_rows"]:
        log.warning(
            "%d history rows (+%d detail rows) held in the backup were deleted by another session than aximport's "
            "(taken for aximport's: %s), kept and restored like the others: %s",
            figures["outside_import_rows"],
            figures["outside_import_detail_rows"],
            ", ".join(figures["import_sessions"]) or "none",
            "; ".join(session_text(s) for s in figures["outside_import_sessions"]),
        )


def classify(counts: list[tuple[int, str | None, str, Session, int]]) -> dict[str, Any]:
    """The report from the captured rows' counts: (table index (0: event_schedule, else a detail
    table), the window they were deleted in (None: outside every window), that window's host,
    the deleting session, rows)."""
    aximport = _learn(counts)
    outside: dict[Session, list[int]] = {}
    for i, window, _, session, n in counts:
        if window is not None and aximport.get(window) == _who(session):
            continue
        outside.setdefault(session, [0, 0])[0 if i == 0 else 1] += n
    named = sorted(outside.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    return {
        "outside_import_rows": sum(v[0] for v in outside.values()),
        "outside_import_detail_rows": sum(v[1] for v in outside.values()),
        "outside_import_sessions": [
            {"program": s[0], "host": s[1], "login": s[2], "rows": v[0], "detail_rows": v[1]}
            for s, v in named[:SESSIONS_SHOWN]
        ],
        "import_sessions": sorted({f"{p} on {h}" for p, h in aximport.values()}),
    }


def _who(session: Session) -> tuple[str, str]:
    return session[0], session[1].lower()


def _learn(counts: list[tuple[int, str | None, str, Session, int]]) -> dict[str, tuple[str, str]]:
    """Per window: the (program, host) that deleted the most captured rows in it from the
    window's host, the slave (ties: the first by name). A window whose rows all came from other
    hosts has no aximport session: all of them are outside aximport."""
    by_window: dict[str, Counter[tuple[str, str]]] = {}
    for _, window, window_host, session, n in counts:
        if window is not None and session[1].lower() == window_host.lower():
            by_window.setdefault(window, Counter())[_who(session)] += n
    return {w: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for w, c in by_window.items()}


def session_text(s: dict[str, Any]) -> str:
    """One session as the log and the alert name it."""
    return (f"{s['rows']} rows (+{s['detail_rows']} detail rows) deleted by program {s['program']!r} on host "
            f"{s['host']!r} as {s['login']!r}")  # fmt: skip


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report in the words of an alert mail: nothing when every captured row was aximport's."""
    if not (report.get("outside_import_rows") or report.get("outside_import_detail_rows")):
        return []
    return [
        f"Of the rows held, {report['outside_import_rows']} history rows (+{report['outside_import_detail_rows']} "
        "detail rows) were deleted by another session than aximport's (deleted outside aximport's window, or in "
        "it by another program or from another host; taken for aximport's: "
        f"{', '.join(report['import_sessions']) or 'none'}). They are kept and restored like the others:",
        *(f"  {session_text(s)}" for s in report["outside_import_sessions"]),
    ]
