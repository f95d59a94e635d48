"""What a slave holds from an earlier run that did not finish, as preflight takes stock of it:
a history backup, an older procedure's backup table, capture triggers left armed; and how
full its database is."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException
from pymssql import Connection

from ds_replication import capture_sessions, history
from ds_replication.catalog import read_history_tables
from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.run_files import selected_folders
from ds_replication.sql_server import SqlServer, data_mb


def take_stock(conn: Connection, database: str, dry_run: bool) -> dict[str, Any]:
    """`leftover_rows`, `legacy_tables` (their rows adopted unless `dry_run`), `adopted_rows`,
    `armed_capture_triggers` and `captured_while_left_armed` (rows they caught since, by table);
    `restored_rows` 0 until a restore; the held rows other sessions than aximport deleted
    (capture_sessions.report)."""
    # Reading the catalog refuses history tables that cannot be kept safely, before any change;
    # every step below takes this one read.
    tables = read_history_tables(conn)
    found: dict[str, Any] = {"legacy_tables": [], "adopted_rows": 0}
    if not dry_run:
        found = history.adopt_legacy(conn, database, tables)
    armed = history.capture_triggers(conn, tables)
    return {
        "leftover_rows": history.held_rows(conn),
        "restored_rows": 0,
        "legacy_tables": found["legacy_tables"],
        "adopted_rows": found["adopted_rows"],
        "armed_capture_triggers": armed,
        "captured_while_left_armed": history.left_armed(conn, tables, armed),
        # held rows deleted by another session than aximport (a capture left armed catches any)
        **capture_sessions.report(conn, tables),
    }


def anything_found(figures: dict[str, Any]) -> bool:
    return bool(figures["leftover_rows"] or figures["legacy_tables"] or figures["armed_capture_triggers"])


def database_size(server: SqlServer, conn: Connection) -> dict[str, Any]:
    """The slave database's data size against its edition's cap, for the run's figures (the
    warning near the cap is host_checks.space's)."""
    return {"sql_server": f"{server.version} {server.edition}", "database_mb": data_mb(conn), "cap_mb": server.cap_mb}


def refuse_a_partial_run(slave: DsHost, held: int, folders: list[JobFolder], params: dict[str, Any]) -> None:
    """A failed night may have left the jobs of any folder missing (a crash mid-import).
    verify_history takes a job that is still missing after this run's import for one removed
    on the master: only a run that imports every folder may verify a leftover backup."""
    if params.get("dry_run") or len(selected_folders(folders, params)) == len(folders):
        return
    raise AirflowException(
        f"slave {slave.name} holds {held} history rows from an earlier run that did not finish; "
        f"this run imports only {params['folders']}, and jobs of the other folders may still be missing. "
        "Run all folders (leave 'folders' empty) to recover the held history first."
    )
