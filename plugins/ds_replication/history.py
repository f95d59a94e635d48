"""Backup, capture, restore and verification of a slave's job history (include/sql).

How the history is kept (docs/history.md):
- `backup` copies the live history into the backup tables (a snapshot; a backup left by a
  failed night is kept, never dropped);
- `arm_capture`, just before aximport, installs AFTER DELETE triggers that copy every history
  row the import deletes into the backup, in the deleting transaction, with its last content:
  rows written while the night goes on are kept, not lost or restored stale;
- `restore` disarms nothing: restore_history disarms the triggers once the import is over,
  then puts back every held row whose job exists; a row the database refuses moves to the
  archive with the reason, and the rest is restored;
- `verify` accounts for every held row (live, or archived with a reason) before it drops the
  triggers and the backup.
Every function is safe to repeat.
"""

from __future__ import annotations

import logging
from typing import Any

from ds_replication.catalog import (
    HistoryTable,
    existing_tables,
    job_fingerprints,
    read_history_tables,
    table_columns,
)
from ds_replication.sql import execute, query, run_script
from ds_replication.templates import render

log = logging.getLogger(__name__)

BACKUP_TABLE = "ds_replication_event_schedule_backup"
FINGERPRINT_TABLE = "ds_replication_fingerprint"
# How many changed event ids go to XCom and the log; the count is always complete.
CHANGED_IDS_SHOWN = 50
# Errors that waiting can heal, or that say nothing of the row: a deadlock victim, a lock
# timeout, the client's own errors (FreeTDS numbers them from 20000: connection, timeout).
TRANSIENT_ERRORS = frozenset({1205, 1222})


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in row.items()}


def backup_present(conn: Any) -> bool:
    return bool(existing_tables(conn, (BACKUP_TABLE,)))


def held_rows(conn: Any) -> int:
    """History rows held in the backup table (0 when there is none)."""
    if not backup_present(conn):
        return 0
    return int(query(conn, render("held_rows.sql", table=BACKUP_TABLE))[0]["n"])


def ensure_tables(conn: Any, database: str, tables: list[HistoryTable]) -> None:
    """Create the backup and archive tables if missing; add any column the DS added to a live
    table since they were made (a service pack), so copies never fail on a new column."""
    missing = {}
    for t in tables:
        live = table_columns(conn, t.live)
        for name in (t.backup, t.archive):
            present = {c.name.lower() for c in table_columns(conn, name)}
            if present:
                missing[name] = [c for c in live if c.name.lower() not in present]
                if missing[name]:
                    log.warning("adding column(s) %s, new in %s, to %s", [c.name for c in missing[name]], t.live, name)
    run_script(conn, render("history_tables.sql", database=database, tables=tables, missing=missing))


def backup(conn: Any, database: str) -> dict[str, int]:
    tables = read_history_tables(conn)
    ensure_tables(conn, database, tables)
    sql = render("backup_history.sql", database=database, tables=tables, fingerprints=job_fingerprints(conn))
    figures = _ints(run_script(conn, sql))
    log.info(
        "history backed up: %(backed_up_rows)d live rows; %(held_rows)d rows held "
        "(%(leftover_rows)d were held from an earlier run; %(conflict_rows)d held rows archived as conflicts)",
        figures,
    )
    return figures


def capture_triggers(conn: Any, tables: list[HistoryTable] | None = None) -> list[str]:
    """The capture triggers armed on the slave now."""
    tables = tables or read_history_tables(conn)
    rows = query(conn, render("armed_triggers.sql", names=[t.capture_trigger for t in tables]))
    return sorted(str(r["name"]) for r in rows)


def arm_capture(conn: Any, database: str) -> list[str]:
    """Install the capture triggers (again: a trigger left by a killed run is replaced by one
    made from today's columns), in one transaction; then check they are armed."""
    tables = read_history_tables(conn)
    ensure_tables(conn, database, tables)
    execute(conn, render("transaction_begin.sql", database=database))
    try:
        execute(conn, render("capture_off.sql", database=database, tables=tables))
        for i, t in enumerate(tables):
            children = [c for c in tables[i + 1 :] if c.parent == t.live]
            execute(conn, render("capture_trigger.sql", t=t, children=children))
        execute(conn, render("transaction_commit.sql"))
    except BaseException:
        execute(conn, render("transaction_rollback.sql"))
        raise
    armed = capture_triggers(conn, tables)
    expected = sorted(t.capture_trigger for t in tables)
    if armed != expected:
        raise RuntimeError(f"capture triggers not armed on the slave: found {armed}, expected {expected}")
    log.info("capture triggers armed: %s", ", ".join(armed))
    return armed


def disarm_capture(conn: Any, database: str) -> None:
    tables = read_history_tables(conn)
    left = int(run_script(conn, render("capture_off.sql", database=database, tables=tables))["armed"])
    if left:
        raise RuntimeError(f"{left} capture trigger(s) still armed on the slave after dropping them")


def _changed_jobs(conn: Any) -> list[int]:
    """Jobs whose content differs from what they were before the import."""
    if not existing_tables(conn, (FINGERPRINT_TABLE,)):
        return []
    before = {int(r["event_id"]): str(r["fingerprint"]).strip() for r in query(conn, render("stored_fingerprints.sql"))}
    after = job_fingerprints(conn)
    return sorted(event_id for event_id, fp in before.items() if event_id in after and after[event_id] != fp)


def _job_names(conn: Any, event_ids: list[int]) -> dict[int, str]:
    if not event_ids:
        return {}
    rows = query(conn, render("job_names.sql", event_ids=[int(i) for i in event_ids]))
    return {int(r["event_id"]): str(r["name"]) for r in rows}


def refused_by_database(error: BaseException) -> bool:
    """True when SQL Server refused the statement for what it holds (a constraint, a trigger),
    not for a lost connection, a timeout or a lock: those are retried, never archived."""
    number = error.args[0] if error.args and isinstance(error.args[0], int) else None
    return number is not None and not 20000 <= number < 21000 and number not in TRANSIENT_ERRORS


def _error_text(error: BaseException) -> str:
    message = error.args[1] if len(error.args) > 1 else error
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    first = str(message).strip().splitlines()[0] if str(message).strip() else type(error).__name__
    return f"restore refused by the database: error {error.args[0]}: {first}"[:400]


def _restore_row_by_row(conn: Any, context: dict[str, Any]) -> tuple[int, int]:
    """Restore a table's rows one by one; a row the database refuses moves to the archive."""
    t: HistoryTable = context["t"]
    restored = refused = 0
    restore_row = render("restore_row.sql", **context)  # rendered (and logged) once, run per row
    archive_row = render("archive_row.sql", **context)
    for row in query(conn, render("restorable_keys.sql", **context)):
        params = t.key_params(row)
        try:
            restored += int(run_script(conn, restore_row, params)["restored_rows"])
        except Exception as error:
            if not refused_by_database(error):
                raise
            reason = _error_text(error)
            log.warning("%s row %s not restored, moved to %s: %s", t.live, params, t.archive, reason)
            run_script(conn, archive_row, (reason, *params, *params))
            refused += 1
    return restored, refused


def restore(conn: Any, database: str, restore_changed_jobs: bool) -> dict[str, Any]:
    if not backup_present(conn):
        log.info("no history backup on the slave: nothing to restore")
        return {"backup_present": False, "restored_rows": 0, "restored_detail_rows": 0, "changed_jobs": 0}
    tables = read_history_tables(conn)
    ensure_tables(conn, database, tables)
    changed = _changed_jobs(conn)
    run_script(conn, render("mark_changed_jobs.sql", database=database, changed_event_ids=changed))
    figures: dict[str, Any] = {"restored_rows": 0, "restored_detail_rows": 0, "refused_rows": 0}
    for i, t in enumerate(tables):
        context = {"database": database, "t": t, "restore_changed_jobs": restore_changed_jobs}
        sql = render("restore_history.sql", **context)
        try:
            restored, refused = int(run_script(conn, sql)["restored_rows"]), 0
        except Exception as error:
            if not refused_by_database(error):
                raise
            log.warning("the database refused restoring %s as a whole (%s): restoring row by row", t.live, error)
            restored, refused = _restore_row_by_row(conn, context)
        figures["restored_rows" if i == 0 else "restored_detail_rows"] += restored
        figures["refused_rows"] += refused
    figures.update(_ints(query(conn, render("held_figures.sql", database=database, tables=tables))[0]))
    names = _job_names(conn, changed[:CHANGED_IDS_SHOWN])
    for event_id, name in names.items():
        log.warning(
            "job %d %r changed in this import: its restored history may describe an older revision%s",
            event_id,
            name,
            "" if restore_changed_jobs else " (history held back, archived by verify_history)",
        )
    figures.update(
        backup_present=True,
        changed_jobs=len(changed),
        changed_event_ids=changed[:CHANGED_IDS_SHOWN],
        changed_job_names=[names[i] for i in changed[:CHANGED_IDS_SHOWN] if i in names],
    )
    log.info(
        "history restored: %(restored_rows)d rows (+%(restored_detail_rows)d detail rows); "
        "%(refused_rows)d rows refused by the database, archived with the reason; "
        "%(job_gone_rows)d rows of jobs no longer on the slave; %(held_rows)d rows still in the backup",
        figures,
    )
    return figures


class HistoryLost(RuntimeError):
    """Rows neither live nor archived; `figures`: verify_history's counts, lost rows among them."""

    def __init__(self, message: str, figures: dict[str, int]) -> None:
        super().__init__(message)
        self.figures = figures


def verify(conn: Any, database: str) -> dict[str, int]:
    if not backup_present(conn):
        log.info("no history backup on the slave: verified by an earlier attempt")
        return {
            "archived_rows": 0,
            "archived_detail_rows": 0,
            "conflict_rows": 0,
            "lost_rows": 0,
            "lost_detail_rows": 0,
        }
    tables = read_history_tables(conn)
    ensure_tables(conn, database, tables)
    sql = render("verify_history.sql", database=database, tables=tables)
    figures = _ints(run_script(conn, sql))
    if figures["lost_rows"] or figures["lost_detail_rows"]:
        raise HistoryLost(
            f"{figures['lost_rows']} history rows (+{figures['lost_detail_rows']} detail rows) are neither "
            f"live nor archived; the backup table {BACKUP_TABLE} is kept with every row. Figures: {figures}",
            figures,
        )
    log.info(
        "history verified: every backup row is live or archived (%(archived_rows)d archived, "
        "%(conflict_rows)d of them conflicts); capture triggers and backup dropped",
        figures,
    )
    return figures


def adopt_legacy(conn: Any, database: str) -> dict[str, Any]:
    """Copy the rows of tables under the old names (the seed article's event_schedule_backup, this
    package's old backup and archive names) into this package's tables; the old tables are left
    as they are. Returns what was found and adopted."""
    tables = read_history_tables(conn)
    olds = [name for t in tables for name in (t.legacy_backup, t.legacy_archive)]
    found = existing_tables(conn, tuple(olds))
    if not found:
        return {"legacy_tables": [], "adopted_rows": 0, "adopted_detail_rows": 0, "adopted_archive_rows": 0}
    ensure_tables(conn, database, tables)
    sources, skipped = [], []
    for t in tables:
        names = []
        for old in (t.legacy_backup, t.legacy_archive):
            have = {c.name.lower() for c in table_columns(conn, old)} if old in found else set()
            lacking = [c for c in t.columns if c.lower() not in have]
            if old in found and lacking:
                skipped.append(f"{old} (no column {', '.join(lacking)})")
            names.append(old if old in found and not lacking else None)
        if any(names):
            sources.append((t, *names))
    if skipped:
        log.warning("not adopted, columns differ from the live table: %s", "; ".join(skipped))
    figures: dict[str, Any] = {"adopted_rows": 0, "adopted_detail_rows": 0, "adopted_archive_rows": 0}
    if sources:
        figures = _ints(run_script(conn, render("adopt_legacy.sql", database=database, sources=sources)))
    figures.update(legacy_tables=found, legacy_skipped=skipped)
    log.warning(
        "found %s from an older procedure (kept as they are); adopted %d rows (+%d detail rows) into %s and "
        "%d archived rows",
        ", ".join(found),
        figures["adopted_rows"],
        figures["adopted_detail_rows"],
        BACKUP_TABLE,
        figures["adopted_archive_rows"],
    )
    return figures


def capture_ready(conn: Any, database: str) -> bool:
    """The backup tables exist and hold every column of the live tables: the capture triggers
    can be armed and will copy whatever the import deletes."""
    tables = read_history_tables(conn)
    return int(run_script(conn, render("capture_ready.sql", database=database, tables=tables))["missing_columns"]) == 0
