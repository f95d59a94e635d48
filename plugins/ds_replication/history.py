"""Backup, restore and verification of a slave's job history (include/sql/*_history.sql).

Each function runs one script in one transaction and returns its figures as plain JSON.
All three are safe to repeat: the backup replaces rows by primary key, the restore inserts
only rows that are not live, the verification archives only rows not archived yet.
"""

from __future__ import annotations

import logging
from typing import Any

from ds_replication.catalog import existing_tables, job_fingerprints, read_history_tables
from ds_replication.sql import query, run_script
from ds_replication.templates import render

log = logging.getLogger(__name__)

BACKUP_TABLE = "event_schedule_backup"
FINGERPRINT_TABLE = "ds_replication_fingerprint"
# How many changed event ids go to XCom and the log; the count is always complete.
CHANGED_IDS_SHOWN = 50


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in row.items()}


def backup_present(conn: Any) -> bool:
    return bool(existing_tables(conn, (BACKUP_TABLE,)))


def held_rows(conn: Any) -> int:
    """History rows held in the backup table (0 when there is none)."""
    if not backup_present(conn):
        return 0
    return int(query(conn, f"SELECT COUNT(*) AS n FROM [{BACKUP_TABLE}]")[0]["n"])


def backup(conn: Any, database: str) -> dict[str, int]:
    tables = read_history_tables(conn)
    sql = render("backup_history.sql", database=database, tables=tables, fingerprints=job_fingerprints(conn))
    figures = _ints(run_script(conn, sql))
    log.info(
        "history backed up: %(backed_up_rows)d live rows; %(held_rows)d rows held "
        "(%(leftover_rows)d were held from an earlier run)",
        figures,
    )
    return figures


def _changed_jobs(conn: Any) -> list[int]:
    """Jobs whose content differs from what they were before the import."""
    if not existing_tables(conn, (FINGERPRINT_TABLE,)):
        return []
    before = {
        int(r["event_id"]): str(r["fingerprint"]).strip()
        for r in query(conn, f"SELECT event_id, fingerprint FROM [{FINGERPRINT_TABLE}]")
    }
    after = job_fingerprints(conn)
    return sorted(event_id for event_id, fp in before.items() if event_id in after and after[event_id] != fp)


def _job_names(conn: Any, event_ids: list[int]) -> dict[int, str]:
    if not event_ids:
        return {}
    ids = ", ".join(str(int(i)) for i in event_ids)
    return {
        int(r["event_id"]): str(r["name"])
        for r in query(conn, f"SELECT event_id, name FROM event WHERE event_id IN ({ids})")
    }


def restore(conn: Any, database: str, restore_changed_jobs: bool) -> dict[str, Any]:
    if not backup_present(conn):
        log.info("no history backup on the slave: nothing to restore")
        return {"backup_present": False, "restored_rows": 0, "restored_detail_rows": 0, "changed_jobs": 0}
    tables = read_history_tables(conn)
    changed = _changed_jobs(conn)
    sql = render(
        "restore_history.sql",
        database=database,
        tables=tables,
        changed_event_ids=changed,
        restore_changed_jobs=restore_changed_jobs,
    )
    figures: dict[str, Any] = _ints(run_script(conn, sql))
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
        "%(job_gone_rows)d rows of jobs no longer on the slave; %(held_rows)d rows still in the backup",
        figures,
    )
    return figures


class HistoryLost(RuntimeError):
    pass


def verify(conn: Any, database: str) -> dict[str, int]:
    if not backup_present(conn):
        log.info("no history backup on the slave: verified by an earlier attempt")
        return {"archived_rows": 0, "archived_detail_rows": 0, "lost_rows": 0, "lost_detail_rows": 0}
    tables = read_history_tables(conn)
    figures = _ints(run_script(conn, render("verify_history.sql", database=database, tables=tables)))
    if figures["lost_rows"] or figures["lost_detail_rows"]:
        raise HistoryLost(
            f"{figures['lost_rows']} history rows (+{figures['lost_detail_rows']} detail rows) are neither "
            f"live nor archived; the backup table {BACKUP_TABLE} is kept with every row. Figures: {figures}"
        )
    log.info(
        "history verified: every backup row is live or archived (%(archived_rows)d archived); backup dropped",
        figures,
    )
    return figures


def live_rows_not_in_backup(conn: Any) -> int | None:
    """Live history rows the backup does not hold by primary key; None when there is no backup."""
    if not backup_present(conn):
        return None
    missing = 0
    for t in read_history_tables(conn):
        rows = query(
            conn,
            f"SELECT COUNT(*) AS n FROM {t.q(t.live)} AS l "
            f"WHERE NOT EXISTS (SELECT 1 FROM {t.q(t.backup)} AS b WHERE {t.match('b', 'l')})",
        )
        missing += int(rows[0]["n"])
    return missing
