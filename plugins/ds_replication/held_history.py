"""What a slave holds from an earlier run that did not finish, as preflight takes stock of it:
a history backup, an older procedure's backup table, capture triggers left armed; and how
full its database is."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.exceptions import AirflowException
from pymssql import Connection

from ds_replication import history
from ds_replication.catalog import read_history_tables
from ds_replication.ds_host import DsHost, JobFolder
from ds_replication.run_files import selected_folders
from ds_replication.sql_server import NEAR_CAP, SqlServer, data_mb


def take_stock(conn: Connection, database: str, dry_run: bool) -> dict[str, Any]:
    """`leftover_rows`, `legacy_tables` (their rows adopted unless `dry_run`), `adopted_rows`,
    `armed_capture_triggers`; `restored_rows` 0 until a restore."""
    # Reading the catalog refuses history tables that cannot be kept safely, before any change.
    read_history_tables(conn)
    found: dict[str, Any] = {"legacy_tables": [], "adopted_rows": 0}
    if not dry_run:
        found = history.adopt_legacy(conn, database)
    return {
        "leftover_rows": history.held_rows(conn),
        "restored_rows": 0,
        "legacy_tables": found["legacy_tables"],
        "adopted_rows": found["adopted_rows"],
        "armed_capture_triggers": history.capture_triggers(conn),
    }


def anything_found(figures: dict[str, Any]) -> bool:
    return bool(figures["leftover_rows"] or figures["legacy_tables"] or figures["armed_capture_triggers"])


def database_size(server: SqlServer | None, conn: Connection, slave: DsHost, log: logging.Logger) -> dict[str, Any]:
    """The slave database's data size against its edition's cap; a warning near the cap
    (the history backup and archive tables grow it), never a failure."""
    if server is None:
        return {}
    size = data_mb(conn)
    figures = {"sql_server": f"{server.version} {server.edition}", "database_mb": size, "cap_mb": server.cap_mb}
    if server.cap_mb and size >= NEAR_CAP * server.cap_mb:
        log.warning(
            "slave %s: database %s holds %.0f MB of data, %.0f%% of the %d MB cap of SQL Server %s; every "
            "night's history backup and the archive tables grow it, and at the cap the DS itself can no "
            "longer write: make room (docs/supported-servers.md)",
            slave.name,
            slave.database,
            size,
            100 * size / server.cap_mb,
            server.cap_mb,
            figures["sql_server"],
        )
    return figures


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
