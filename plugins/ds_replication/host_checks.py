"""What a DS host must offer before a night, read without changing anything: one function per
check, each returning a `Check` (what was looked at, ok or not, what was found, why it matters
and what to do).

The slave DAG's preflight and the estate survey (`ds-replication survey`, DAG `survey_estate`)
both call these functions: a host the survey calls `go` is one preflight accepts, and a refusal
of preflight is a `no-go` of the survey with the same words. A check that is ok but says why is
a warning: preflight logs it and goes on.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ds_replication.catalog import existing_tables, read_history_tables, table_columns
from ds_replication.ds_tools import in_ds_folder
from ds_replication.history import DRIFT_ADVICE, drift
from ds_replication.history_table import HistoryTable
from ds_replication.lasting import LastingError, describe
from ds_replication.sql import query
from ds_replication.sql_server import (
    NEAR_CAP,
    NestedTriggersOff,
    SqlServer,
    data_mb,
    read_server,
    refuse_nested_triggers_off,
    refuse_old,
)
from ds_replication.templates import render

if TYPE_CHECKING:
    from pymssql import Connection

    from ds_replication.ds_host import DsHost

REACH_TIMEOUT_SECONDS = 120
TOOLS = {"master": ("axexport.exe",), "slave": ("axexport.exe", "aximport.exe")}
# The night writes every history row twice in the log of the slave's database: the backup's copy
# (backup_history, one transaction), then the row deleted by aximport with the capture trigger's
# copy of it (aximport's own transaction). Both must fit before the log is backed up or truncated.
LOG_COPIES = 2
# A log file that grows without a limit of its own (max_size -1, or 2 TB for a log file).
UNLIMITED_PAGES = (-1, 268435456)
PAGE = 8192
CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class Check:
    """One check of one host. `ok` False: the night would be refused (no-go); ok with `why`: a warning."""

    check: str
    ok: bool
    found: str
    why: str = ""
    # the error behind a failed reach: preflight does not retry when waiting cannot heal it
    error: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def warning(self) -> bool:
        return self.ok and bool(self.why)

    @property
    def lasting(self) -> bool:
        """Waiting will not heal it: a fact read from the host, or an error known to last."""
        return self.error is None or isinstance(self.error, LastingError)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "found": self.found, "why": self.why}


def _failed(check: str, error: BaseException, why: str) -> Check:
    return Check(check, False, describe(error), why, error)


# --- reaching a host: SQL, cmd over WinRM, the share ----------------------------------------------


def sql_server(host: DsHost) -> tuple[Check, SqlServer | None]:
    """Log in to the DS database and read @@VERSION; SQL Server 2005 or later."""
    name = f"SQL ({host.mssql_conn_id})"
    try:
        with host.connect() as conn:
            query(conn, "SELECT 1 AS ok")
            server = read_server(conn)
        refuse_old(server, host.mssql_conn_id)
    except Exception as error:
        why = "" if isinstance(error, LastingError) else "log in as the connection does (host, port, login, database)"
        return _failed(name, error, why), None
    return Check(name, True, f"{server.version} {server.edition}, database {host.database}"), server


def winrm_check_name(host: DsHost) -> str:
    """The name of winrm_cmd's check (the survey reads whether it passed by it)."""
    return f"WinRM ({host.winrm_conn_id})"


def winrm_cmd(host: DsHost, timeout_seconds: float = REACH_TIMEOUT_SECONDS) -> tuple[Check, list[str]]:
    """cmd.exe over WinRM, in the DS folder (where the tools run): the folder's listing."""
    name = winrm_check_name(host)
    try:
        result = host.run(in_ds_folder(host.ds_path, "dir"), timeout_seconds)
    except Exception as error:
        return _failed(name, error, "WinRM must answer and let the login run cmd.exe"), []
    if result.return_code != 0:
        output = (result.stdout + result.stderr).strip()
        error = RuntimeError(f"'cd /d {host.ds_path} && dir' exited {result.return_code}: {output}")
        return _failed(name, error, "the login must run cmd.exe in the DS folder (ds_path)"), []
    names = [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]
    return Check(name, True, f"cmd runs in {host.ds_path}"), names


def share(host: DsHost) -> tuple[Check, list[str]]:
    """SMB 2 or later, and the share listed; its names."""
    name = f"SMB ({host.smb_conn_id}, share {host.share})"
    try:
        hook = host.share_hook()
        hook.refuse_smb1()  # in seconds, before smbprotocol's own timeouts
        with hook:
            names = hook.listdir("")
    except Exception as error:
        return _failed(name, error, "" if isinstance(error, LastingError) else "the share must be listable"), []
    return Check(name, True, f"SMB 2 or later; {len(names)} entries"), names


def ds_tools(host: DsHost, listing: list[str]) -> Check:
    """The DS tools the night runs on this host, in the DS folder as cmd lists it."""
    wanted = TOOLS[host.role]
    present = {n.lower() for n in listing}
    missing = [tool for tool in wanted if tool not in present]
    found = f"{', '.join(t for t in wanted if t in present) or 'none'} in {host.ds_path}"
    if missing:
        return Check(
            "DS tools",
            False,
            found,
            f"{', '.join(missing)} not in the DS folder {host.ds_path}: ds_path must be the Deployment Server "
            "folder that holds the DS tools",
        )
    return Check("DS tools", True, found)


def reach(
    host: DsHost, command_seconds: float = REACH_TIMEOUT_SECONDS, out: list[Check] | None = None
) -> tuple[list[Check], SqlServer | None]:
    """SQL, cmd over WinRM with the DS tools, and the share: what preflight needs of every host.
    Each check is appended to `out` as soon as it is read (the survey keeps what a host answered
    before it stopped answering)."""
    checks = [] if out is None else out
    sql, server = sql_server(host)
    checks.append(sql)
    cmd, listing = winrm_cmd(host, command_seconds)
    checks.append(cmd)
    if cmd.ok:
        checks.append(ds_tools(host, listing))
    checks.append(share(host)[0])
    return checks, server


# --- the slave's database ------------------------------------------------------------------------


# A site trigger that sp_settriggerorder made First on DELETE: the capture trigger cannot be First too.
FIRST_TAKEN = (
    " (the First AFTER DELETE trigger: {t.capture_trigger} cannot be made First and fires after it; "
    "check that it does not change or remove the rows being deleted)"
)


def history_tables(conn: Connection) -> tuple[Check, list[HistoryTable]]:
    """The history tables can be kept: found, each with a key, or keyless without large columns."""
    try:
        tables = read_history_tables(conn)
    except Exception as error:
        return _failed("history tables", error, ""), []
    parts = []
    for t in tables:
        triggers = [
            f"{r['name']}{' (disabled)' if r['is_disabled'] else ''}"
            + (FIRST_TAKEN.format(t=t) if r["first_on_delete"] and r["name"] != t.capture_trigger else "")
            for r in _triggers(conn, t.live)
        ]
        identity = f", IDENTITY {t.identity}" if t.identity else ""
        parts.append(
            f"{t.live}: key {', '.join(t.key) if t.has_key else '(every column)'} ({t.key_source}){identity}; "
            f"triggers: {', '.join(triggers) or 'none'}"
        )
    return Check("history tables", True, "; ".join(parts)), tables


def package_tables(conn: Connection, tables: list[HistoryTable]) -> Check:
    """The package's backup and archive tables still match the history tables: a column the DS
    retyped or gave another collation since (a DS upgrade) is refused by name, as the backup
    would refuse it (history.drift), before anything changes."""
    made = existing_tables(conn, tuple(name for t in tables for name in (t.backup, t.archive)))
    if not made:
        return Check("package's tables", True, "not made yet")
    drifted = drift(conn, tables)
    if drifted:
        return Check("package's tables", False, "; ".join(drifted), DRIFT_ADVICE)
    return Check("package's tables", True, f"{', '.join(made)}: columns as in the history tables")


def _triggers(conn: Connection, table: str) -> list[dict[str, Any]]:
    return query(conn, render("table_triggers.sql", table=table))


def _history_bytes(conn: Connection, tables: list[HistoryTable]) -> tuple[int, int]:
    """(history rows, their bytes at most): rows counted, widths from the catalog (a large
    value counted at 8000 bytes: a guess, said so where it is used)."""
    rows = total = 0
    for t in tables:
        n = int(query(conn, render("held_rows.sql", table=t.live))[0]["n"])
        width = sum(8000 if c.max_length == -1 else c.max_length for c in table_columns(conn, t.live))
        rows += n
        total += n * width
    return rows, total


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1024 / 1024:.1f} MB"


def space(conn: Connection, server: SqlServer, tables: list[HistoryTable], database: str) -> list[Check]:
    """Room for tonight: the history backup in the data (against the edition's cap) and the
    night's copies in the transaction log."""
    rows, history = _history_bytes(conn, tables)
    size_mb = data_mb(conn)
    backup_mb = history / 1024 / 1024
    found = f"{size_mb:.1f} MB of data; tonight's backup of {rows} history rows up to {backup_mb:.1f} MB"
    checks = []
    cap = server.cap_mb
    if cap and size_mb + backup_mb >= cap:
        checks.append(
            Check(
                "data size",
                False,
                f"{found}; cap {cap} MB ({server.edition})",
                f"the backup would take the database {database} past the {cap} MB cap of SQL Server "
                f"{server.version} {server.edition}: make room, or move to an edition without the cap",
            )
        )
    elif cap and size_mb >= NEAR_CAP * cap:
        checks.append(
            Check(
                "data size",
                True,
                f"database {database} holds {size_mb:.0f} MB of data, {100 * size_mb / cap:.0f}% of the {cap} MB cap "
                f"of SQL Server {server.version} {server.edition}; tonight's backup up to {backup_mb:.1f} MB",
                "every night's history backup and the archive tables grow it, and at the cap the DS itself can no "
                "longer write: make room (docs/supported-servers.md)",
            )
        )
    else:
        checks.append(Check("data size", True, found + (f"; cap {cap} MB" if cap else "; no cap")))
    checks.append(transaction_log(conn, rows, history, database))
    return checks


def transaction_log(conn: Connection, rows: int, history_bytes: int, database: str) -> Check:
    """The log holds the night's copies of the history (LOG_COPIES), or may grow to."""
    needed = LOG_COPIES * history_bytes
    files = query(conn, render("log_files.sql"))
    limit = 0
    for f in files:
        size, max_size = int(f["size"]), int(f["max_size"])
        if int(f["growth"]) == 0:
            limit += size * PAGE
        elif max_size in UNLIMITED_PAGES:
            return Check(
                "transaction log",
                True,
                f"{_mb(size * PAGE)}, grows without a limit; tonight needs up to {_mb(needed)}",
            )
        else:
            limit += max(size, max_size) * PAGE
    found = f"at most {_mb(limit)}; tonight needs up to {_mb(needed)} ({LOG_COPIES} copies of {rows} history rows)"
    if limit < needed:
        return Check(
            "transaction log",
            False,
            found,
            f"the log of {database} cannot hold tonight's copies of the history: the import would fail with "
            "error 9002 (log full) and roll back. Let the log grow (or grow it) to at least the size needed",
        )
    return Check("transaction log", True, found)


def recovery_model(conn: Connection, database: str) -> Check:
    """The database's recovery model: under FULL (or BULK_LOGGED) the log keeps the night's
    copies until a log backup, so nights add up in it unless the log is backed up."""
    rows = query(conn, render("recovery_model.sql"), (database,))
    model = str(rows[0]["recovery_model_desc"]) if rows else "unknown"
    if model.upper() == "SIMPLE":
        return Check("recovery model", True, model)
    return Check(
        "recovery model",
        True,
        model,
        f"the log of {database} keeps each night's copies of the history until a log backup: back the log up "
        "(after each night at least), or the room the transaction log check found is used up night after night",
    )


def nested_triggers(conn: Connection, where: str) -> Check:
    """Server option `nested triggers` in use (sql_server.refuse_nested_triggers_off): the
    capture triggers must fire inside the DS's own delete cascade, a trigger's delete."""
    try:
        refuse_nested_triggers_off(conn, where)
    except NestedTriggersOff as error:
        return Check("nested triggers", False, "0 (off)", str(error))
    return Check("nested triggers", True, "1 (on)")


def login_language(conn: Connection) -> Check:
    """The login's language: the package's connections read dates as year-month-day whatever it
    is (SET DATEFORMAT ymd); a note for anything else that runs under the login."""
    language = str(query(conn, render("login_language.sql"))[0]["language"])
    if language.lower() == "us_english":
        return Check("login language", True, language)
    return Check(
        "login language",
        True,
        language,
        "the package sets DATEFORMAT ymd on its own connections; a script of your own under this login reads "
        "'YYYY-MM-DD hh:mm:ss' as year-day-month",
    )


def older_procedure(conn: Connection, tables: list[HistoryTable]) -> Check:
    """Tables of the seed article's procedure: its scheduled import.bat may still run."""
    olds = tuple(name for t in tables for name in (t.legacy_backup, t.legacy_archive))
    found = existing_tables(conn, olds)
    if not found:
        return Check("older procedure's tables", True, "none")
    return Check(
        "older procedure's tables",
        True,
        ", ".join(found),
        "an older procedure ran here: preflight adopts these rows, but disable its scheduled import.bat "
        "(it drops event_schedule_backup) before the first night",
    )


SCHEDULED_TASKS_COMMAND = "schtasks /query /fo csv /v"
OLD_SCRIPT = "import.bat"


def scheduled_import(host: DsHost, timeout_seconds: float = REACH_TIMEOUT_SECONDS) -> Check:
    """A scheduled task that runs the seed article's import.bat (its own aximport of every night,
    whose deletes no capture trigger of this package is armed for): a note, as its tables are.
    Read with `schtasks /query /fo csv /v` (each task a CSV row, its name the second field)."""
    name = "scheduled import.bat"
    by_hand = "look in the host's Task Scheduler for a task that runs import.bat, and disable it"
    try:
        result = host.run(SCHEDULED_TASKS_COMMAND, timeout_seconds)
    except Exception as error:
        return Check(name, True, f"not read: {describe(error)}", by_hand)
    if result.return_code != 0:
        output = (result.stdout + result.stderr).strip()
        return Check(
            name, True, f"not read: '{SCHEDULED_TASKS_COMMAND}' exited {result.return_code}: {output}", by_hand
        )
    rows = [row for row in csv.reader(io.StringIO(result.stdout)) if len(row) > 1]
    tasks = [row[1] for row in rows if any(OLD_SCRIPT in field.lower() for field in row)]
    if not tasks:
        return Check(name, True, f"none of {max(len(rows) - 1, 0)} scheduled task(s) runs {OLD_SCRIPT}")
    return Check(
        name,
        True,
        f"{', '.join(tasks)} runs {OLD_SCRIPT}",
        "an older procedure's import runs here on a schedule: disable that task before the first night (its "
        "aximport deletes history that no capture of this package is armed for, and it drops event_schedule_backup)",
    )


def clock(utc_now: dt.datetime, now: dt.datetime | None = None) -> Check:
    """The server's clock against this host's (the history's times are the server's)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    skew = (utc_now - now).total_seconds()
    found = f"{round(skew):+d} s against the Airflow host"
    if abs(skew) > CLOCK_SKEW_SECONDS:
        return Check(
            "clock",
            True,
            found,
            "the night is scheduled on Airflow's clock and the history is dated by the server's: set both from "
            "the same time source",
        )
    return Check("clock", True, found)


def server_facts(conn: Connection) -> tuple[Check, dt.datetime | None]:
    row = query(conn, render("server_facts.sql"))[0]
    found = f"{row['product_version']} {row['product_level']} {row['edition_name']}"
    return Check("SERVERPROPERTY", True, found), row["utc_now"]


def database(conn: Connection, server: SqlServer, host: DsHost) -> Iterator[Check]:
    """Every check of a slave's DS database (on `conn`, a connection to it), in the order
    preflight refuses them."""
    facts, utc_now = server_facts(conn)
    yield facts
    found, tables = history_tables(conn)
    yield found
    yield nested_triggers(conn, f"{host.role} {host.name} ({host.mssql_conn_id})")
    yield login_language(conn)
    if not tables:
        return
    yield package_tables(conn, tables)
    yield from space(conn, server, tables, host.database)
    yield recovery_model(conn, host.database)
    yield older_procedure(conn, tables)
    if utc_now is not None:
        yield clock(utc_now)


def refusals(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def refusal_text(headline: str, checks: list[Check]) -> str:
    """`headline: check: found (why); ...`, as preflight's error says it."""
    return f"{headline}: " + "; ".join(f"{c.check}: {c.found}{f' ({c.why})' if c.why else ''}" for c in checks)


def each_warning(checks: list[Check], log: Callable[..., Any]) -> None:
    for c in checks:
        if c.warning:
            log("%s: %s: %s", c.check, c.found, c.why)
