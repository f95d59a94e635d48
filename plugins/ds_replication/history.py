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
- `disarm_capture` checks that every history row live when the capture was armed is live or
  was captured (a TRUNCATE, a disabled or dropped trigger would have let rows go past it);
- `verify` fails, naming them, if any were not; it accounts for every held row (live, or
  archived with a reason) before it drops the triggers and the backup.
Every function is safe to repeat.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ds_replication.catalog import CatalogError, existing_tables, read_history_tables, table_columns
from ds_replication.history_table import CAPTURED_BY, Column, HistoryTable
from ds_replication.job_content import job_fingerprints
from ds_replication.sql import execute, query, run_script
from ds_replication.templates import render

log = logging.getLogger(__name__)

BACKUP_TABLE = "ds_replication_event_schedule_backup"
FINGERPRINT_TABLE = "ds_replication_fingerprint"
# How many changed event ids go to XCom and the log; the count is always complete.
CHANGED_IDS_SHOWN = 50
# The errors by which SQL Server refuses a row for what it holds: a FOREIGN KEY or CHECK
# constraint (547), a duplicate key (2627, 2601), a NULL (515), a value too long (8152), a value
# that does not convert (245, 241, 8114); 50000 and up: a site's own RAISERROR in a trigger.
# Only these archive a row. Any other error (log or filegroup full 9002/1105, memory 701, locks
# 1204, IDENTITY_INSERT 8107, a lost connection, a timeout, ...) says nothing of the row: the
# task fails and every row stays held for a retry. 242 (a date out of range) is left out on
# purpose: it is what a login's language does to a date string, not what the row holds.
ROW_REFUSALS = frozenset({547, 2627, 2601, 515, 8152, 245, 241, 8114})
FIRST_USER_ERROR = 50000


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in row.items()}


def backup_present(conn: Any) -> bool:
    return bool(existing_tables(conn, (BACKUP_TABLE,)))


def held_rows(conn: Any) -> int:
    """History rows held in the backup table (0 when there is none)."""
    if not backup_present(conn):
        return 0
    return int(query(conn, render("held_rows.sql", table=BACKUP_TABLE))[0]["n"])


# What to do about a column of the package's tables the DS has changed beyond a widening.
DRIFT_ADVICE = (
    "A copy between two types may change values (nvarchar to varchar loses the characters the code page lacks, "
    "a datetime is rounded), and SQL Server cannot compare two columns of different collations (Msg 468) or "
    "matches their rows by other rules, so nothing was changed and the held history stays as it is. Alter those "
    "columns of the package's tables to the live table's type and collation by hand (ALTER TABLE ... ALTER "
    "COLUMN ... COLLATE ...; for a key column, drop the table's index <table>_key first: the next run makes it "
    "again), once every held value converts, then run again."
)


# Per history table: its live columns and, for its backup and its archive, their columns by
# lower-cased name (empty: not made yet).
PackageColumns = list[tuple[HistoryTable, list[Column], dict[str, dict[str, Column]]]]


def _package_columns(conn: Any, tables: list[HistoryTable]) -> PackageColumns:
    out = []
    for t in tables:
        held = {name: {c.name.lower(): c for c in table_columns(conn, name)} for name in (t.backup, t.archive)}
        out.append((t, table_columns(conn, t.live), held))
    return out


def drift(conn: Any, tables: list[HistoryTable]) -> list[str]:
    """Columns of the package's backup and archive tables that the DS has since changed beyond
    what ensure_tables follows: another type (not a widening) or another collation; by name."""
    return _drifted(_package_columns(conn, tables))


def _drifted(columns: PackageColumns) -> list[str]:
    out = []
    for t, live, held in columns:
        for name, present in held.items():
            out += _retyped(t, live, present, name) + _recollated(t, live, present, name)
    return out


def ensure_tables(conn: Any, database: str, tables: list[HistoryTable]) -> None:
    """Create the backup and archive tables if missing; add any column the DS added to a live
    table since they were made (a service pack), and widen a column the DS widened, so copies
    never fail on a new or longer value. A column the DS retyped or gave another collation is
    refused by name (drift) before anything changes."""
    columns = _package_columns(conn, tables)  # read once: the drift check and the changes share it
    drifted = _drifted(columns)
    if drifted:
        raise CatalogError(f"{'; '.join(drifted)}. {DRIFT_ADVICE}")
    missing, widened, captured_by = {}, {}, {}
    for t, live, held in columns:
        for name, present in held.items():
            if name == t.backup:  # who deleted a captured row: added to a backup of an older version
                captured_by[name] = [(c, kind) for c, kind, _ in CAPTURED_BY if c.lower() not in present]
            if present:
                missing[name] = [c for c in live if c.name.lower() not in present]
                if missing[name]:
                    log.warning("adding column(s) %s, new in %s, to %s", [c.name for c in missing[name]], t.live, name)
                widened[name] = _widened(t, live, present, name)
    context = {"tables": tables, "missing": missing, "widened": widened, "captured_by": captured_by}
    sql = render("history_tables.sql", database=database, **context)
    run_script(conn, sql)


def _widened(t: HistoryTable, live: list[Column], held: dict[str, Column], table: str) -> list[Column]:
    """The live columns `table` must be widened to (its nullability kept): a longer string, a wider
    integer. A column made shorter is kept as it is and said: a held value the live column cannot
    take is refused at restore and archived with the reason; a key column is never altered (its
    index depends on it). Another type altogether is refused (_retyped)."""
    out = []
    for c in live:
        mine = held.get(c.name.lower())
        if mine is None or mine.type_sql().lower() == c.type_sql().lower():
            continue
        if c.name not in t.key and c.widens(mine):
            log.warning("widening %s.%s from %s to %s, as in %s", table, c.name, mine.type_sql(), c.type_sql(), t.live)
            out.append(dataclasses.replace(c, nullable=mine.nullable))
        elif mine.type_name.lower() == c.type_name.lower() or c.widens(mine) or mine.widens(c):
            log.warning("column %s is %s in %s but %s in %s: kept as it is", c.name, c.type_sql(), t.live,
                        mine.type_sql(), table)  # fmt: skip
    return out


def _retyped(t: HistoryTable, live: list[Column], held: dict[str, Column], table: str) -> list[str]:
    """Columns whose type the DS changed to another type, not a widening of it (_widened), since
    `table` was made: said by name."""
    out = []
    for c in live:
        mine = held.get(c.name.lower())
        if mine is None or mine.type_name.lower() == c.type_name.lower() or c.widens(mine) or mine.widens(c):
            continue  # the same type, or one holds every value of the other (a tinyint IDENTITY is int + 0 here)
        out.append(f"column {c.name} of {t.live} is {c.type_sql()} now but {mine.type_sql()} in {table}")
    return out


def _recollated(t: HistoryTable, live: list[Column], held: dict[str, Column], table: str) -> list[str]:
    """Character columns the DS gave another collation since `table` was made (a DS upgrade):
    said by name, with both collations."""
    out = []
    for c in live:
        mine = held.get(c.name.lower())
        if mine is None or not c.collation or not mine.collation or mine.collation.lower() == c.collation.lower():
            continue
        out.append(f"column {c.name} of {t.live} is collated {c.collation} now but {mine.collation} in {table}")
    return out


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


def left_armed(conn: Any, tables: list[HistoryTable] | None = None, armed: list[str] | None = None) -> dict[str, int]:
    """Capture triggers armed already, before tonight arms them: left by a run that failed or was
    killed after arming (restore_history never disarmed them). Each with the rows it captured since
    (deletes by anyone, the DS console's own among them): held in the backup, restored tonight.
    `tables` and `armed` (capture_triggers): what the caller has just read, else read here."""
    tables = tables or read_history_tables(conn)
    armed = set(capture_triggers(conn, tables) if armed is None else armed)
    left = {}
    for t in tables:
        if t.capture_trigger in armed:
            present = existing_tables(conn, (t.captured,))
            left[t.live] = int(query(conn, render("held_rows.sql", table=t.captured))[0]["n"]) if present else 0
    if left:
        log.warning(
            "capture triggers were still armed from an earlier run (failed or killed after arming): rows captured "
            "since, by table: %s. They are held in the backup and restored tonight; the triggers are armed anew.",
            left,
        )
    return left


def arm_capture(conn: Any, database: str) -> list[str]:
    """Install the capture triggers (again: a trigger left by a killed run is replaced by one
    made from today's columns), in one transaction; then check they are armed."""
    tables = read_history_tables(conn)
    ensure_tables(conn, database, tables)
    left_armed(conn, tables)
    execute(conn, render("transaction_begin.sql", database=database))
    try:
        execute(conn, render("capture_off.sql", database=database, tables=tables))
        execute(conn, render("capture_ledger.sql", tables=tables))
        for t in tables:
            if t.unreadable:  # the trigger takes these columns from the backup's copy: bring it up to date
                execute(conn, render("lob_refresh.sql", t=t))
        for i, t in enumerate(tables):
            children = [c for c in tables[i + 1 :] if c.parent == t.live]
            execute(conn, render("capture_trigger.sql", t=t, children=children))
        for t in tables:
            _capture_first(conn, t)
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


def _capture_first(conn: Any, t: HistoryTable) -> None:
    """Make the capture trigger the First AFTER DELETE trigger of its table (sp_settriggerorder), so
    that no trigger of the site's acts on the rows being deleted before they are copied. A site's
    own First trigger is left as it is (SQL Server allows one: Msg 15130) and named."""
    first = [str(r["name"]) for r in query(conn, render("table_triggers.sql", table=t.live)) if r["first_on_delete"]]
    taken = [name for name in first if name.lower() != t.capture_trigger.lower()]
    if taken:
        log.warning("%s: the site's trigger %s is the First AFTER DELETE trigger; %s fires after it", t.live,
                    taken[0], t.capture_trigger)  # fmt: skip
    elif not first:
        execute(conn, render("capture_first.sql", t=t))


def disarm_capture(conn: Any, database: str, tables: list[HistoryTable] | None = None) -> dict[str, int]:
    """Drop the capture triggers, checking first that every row live when they were armed is
    live or was captured; the rest are kept in the uncaptured tables for verify to report.
    `tables`: the history tables as the caller has just read them, else read here."""
    tables = tables or read_history_tables(conn)
    figures = _ints(run_script(conn, render("capture_check.sql", database=database, tables=tables)))
    if figures["armed"]:
        raise RuntimeError(f"{figures['armed']} capture trigger(s) still armed on the slave after dropping them")
    if figures["checked_tables"] and figures["enabled_triggers"] < len(tables):
        log.error(
            "at disarm only %d of the %d capture triggers existed and were enabled: rows deleted meanwhile "
            "were not captured",
            figures["enabled_triggers"],
            len(tables),
        )
    if figures["uncaptured_rows"] or figures["uncaptured_detail_rows"]:
        log.error(
            "%(uncaptured_rows)d history rows (+%(uncaptured_detail_rows)d detail rows) were deleted while the "
            "capture was armed without reaching it; verify_history will fail and name them",
            figures,
        )
    return figures


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
    """True when SQL Server refused the statement for what the row holds (ROW_REFUSALS, or a
    site's RAISERROR); any other error is not the row's fault and must not archive it."""
    number = error.args[0] if error.args and isinstance(error.args[0], int) else None
    return number is not None and (number in ROW_REFUSALS or number >= FIRST_USER_ERROR)


def _identity_insert_off(conn: Any, t: HistoryTable) -> None:
    """A batch that failed between SET IDENTITY_INSERT ... ON and OFF leaves it ON for the
    connection (a session setting): the next table's ON would fail with Msg 8107."""
    if not t.identity:
        return
    try:
        execute(conn, render("identity_insert_off.sql", t=t))
    except Exception as error:  # the connection may be gone: the error that ended the step is the one to see
        log.warning("could not turn IDENTITY_INSERT off for %s: %s", t.live, error)


def _error_text(error: BaseException) -> str:
    message = error.args[1] if len(error.args) > 1 else error
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    first = str(message).strip().splitlines()[0] if str(message).strip() else type(error).__name__
    return f"restore refused by the database: error {error.args[0]}: {first}"[:400]


def _copy_digits(conn: Any, t: HistoryTable) -> int:
    """Digits of the most copies of one held row a keyless table lacks: restore_history.sql numbers
    the copies it puts back up to 10 ** digits (a keyed table holds one copy per key)."""
    if t.has_key:
        return 1
    most = int(query(conn, render("copies_short.sql", t=t))[0]["most"])
    return max(1, len(str(most)))


def _restore_row_by_row(conn: Any, context: dict[str, Any]) -> tuple[int, int]:
    """Restore a table's rows one by one (a keyless row with every copy it lacks); a row the
    database refuses moves to the archive."""
    t: HistoryTable = context["t"]
    context = {**context, "copy_digits": _copy_digits(conn, t)}
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


def restore(
    conn: Any, database: str, restore_changed_jobs: bool, tables: list[HistoryTable] | None = None
) -> dict[str, Any]:
    """`tables`: the history tables as the caller has just read them, else read here."""
    if not backup_present(conn):
        log.info("no history backup on the slave: nothing to restore")
        return {"backup_present": False, "restored_rows": 0, "restored_detail_rows": 0, "changed_jobs": 0}
    tables = tables or read_history_tables(conn)
    ensure_tables(conn, database, tables)
    changed = _changed_jobs(conn)
    run_script(conn, render("mark_changed_jobs.sql", database=database, changed_event_ids=changed))
    figures: dict[str, Any] = {"restored_rows": 0, "restored_detail_rows": 0, "refused_rows": 0}
    for i, t in enumerate(tables):
        context = {"database": database, "t": t, "restore_changed_jobs": restore_changed_jobs}
        sql = render("restore_history.sql", **context, copy_digits=_copy_digits(conn, t))
        try:
            try:
                restored, refused = int(run_script(conn, sql)["restored_rows"]), 0
            except Exception as error:
                if not refused_by_database(error):
                    raise
                log.warning("the database refused restoring %s as a whole (%s): restoring row by row", t.live, error)
                restored, refused = _restore_row_by_row(conn, context)
        finally:
            _identity_insert_off(conn, t)
        figures["restored_rows" if i == 0 else "restored_detail_rows"] += restored
        figures["refused_rows"] += refused
    figures.update(_ints(query(conn, render("held_figures.sql", database=database, tables=tables))[0]))
    figures["uncaptured_lob_rows"] = _report_uncaptured(conn, tables)
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


def _report_uncaptured(conn: Any, tables: list[HistoryTable]) -> int:
    """Rows the capture archived without their text/ntext/image columns since this backup was
    made (written after arming, so no copy held them): named by key in the log, counted."""
    count = 0
    for t in tables:
        if not t.unreadable:
            continue
        rows = query(conn, render("lob_uncaptured.sql", t=t))
        count += len(rows)
        if rows:
            keys = [t.key_params(r) for r in rows[:CHANGED_IDS_SHOWN]]
            log.warning("%d row(s) of %s archived without %s (%s): keys %s", len(rows), t.live,
                        ", ".join(t.unreadable), t.uncaptured_reason, keys)  # fmt: skip
    return count


class HistoryLost(RuntimeError):
    """Rows neither live nor archived; `figures`: verify_history's counts, lost rows among them."""

    def __init__(self, message: str, figures: dict[str, int]) -> None:
        super().__init__(message)
        self.figures = figures


class CaptureIncomplete(HistoryLost):
    """History rows were deleted while the capture was armed, past its trigger."""


def _uncaptured(conn: Any, tables: list[HistoryTable]) -> tuple[dict[str, int], list[str]]:
    """Rows each uncaptured table holds, by table; a few of them named."""
    counts, named = {}, []
    for t in tables:
        if existing_tables(conn, (t.uncaptured,)):
            counts[t.live] = int(query(conn, render("held_rows.sql", table=t.uncaptured))[0]["n"])
            if counts[t.live]:
                for row in query(conn, render("uncaptured_rows.sql", t=t)):
                    named.append(f"{t.live}(" + ", ".join(f"{k}={v}" for k, v in row.items()) + ")")
    return counts, named


def refuse_an_incomplete_capture(conn: Any, tables: list[HistoryTable]) -> None:
    """Fail, naming rows, when the disarm found history deleted past the capture trigger."""
    counts, named = _uncaptured(conn, tables)
    if not sum(counts.values()):
        return
    first, *rest = [t.live for t in tables]
    figures = {
        "archived_rows": 0,
        "archived_detail_rows": 0,
        "conflict_rows": 0,
        "lost_rows": counts.get(first, 0),
        "lost_detail_rows": sum(counts.get(r, 0) for r in rest),
    }
    where = ", ".join(t.uncaptured for t in tables if counts.get(t.live))
    raise CaptureIncomplete(
        f"{figures['lost_rows']} history rows (+{figures['lost_detail_rows']} detail rows) were deleted while "
        "the capture triggers were armed without being captured (a TRUNCATE TABLE, a capture trigger disabled, "
        f"dropped or not fired; 'nested triggers' off?), e.g. {'; '.join(named)}. Their keys are in {where}; "
        f"the backup table {BACKUP_TABLE} is kept. Recover those rows from a database backup, then drop {where} "
        "to let the night verify.",
        figures,
    )


def verify(conn: Any, database: str) -> dict[str, int]:
    tables = read_history_tables(conn)  # once for the whole step: the DS's tables do not change in it
    disarm_capture(conn, database, tables)  # already done by restore_history: then a no-op
    refuse_an_incomplete_capture(conn, tables)
    if not backup_present(conn):
        log.info("no history backup on the slave: verified by an earlier attempt")
        return {
            "archived_rows": 0,
            "archived_detail_rows": 0,
            "conflict_rows": 0,
            "lost_rows": 0,
            "lost_detail_rows": 0,
        }
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


def adopt_legacy(conn: Any, database: str, tables: list[HistoryTable] | None = None) -> dict[str, Any]:
    """Copy the rows of tables under the old names (the seed article's event_schedule_backup, this
    package's old backup and archive names) into this package's tables; the old tables are left
    as they are. Returns what was found and adopted. `tables`: as the caller has just read them."""
    tables = tables or read_history_tables(conn)
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
