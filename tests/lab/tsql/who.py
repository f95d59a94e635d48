"""Who a session is, as SQL Server reports it: APP_NAME(), HOST_NAME(), SUSER_SNAME(), @@SPID.

SQL Server takes the first two from the client's LOGIN7 packet (MS-TDS 2.2.6.4: AppName and
HostName, as the client sent them; an empty field gives an empty string), SUSER_SNAME() is the
session's login (docs: "SUSER_SNAME (Transact-SQL)"), @@SPID its session id (docs: "@@SPID").
All four exist in SQL Server 2005 (docs: "APP_NAME", "HOST_NAME").

Each SQLite connection of the lab that deletes (a TDS session, the simulated aximport) holds
its identity in a TEMP table `lab_session`, private to that connection as a session's state is
to it: a trigger body, translated once into native SQL and run on whichever connection deleted,
reads the deleting session's values from there, as SQL Server's trigger does.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from dataclasses import dataclass

from sqlglot import exp

TABLE = "lab_session"
_SPIDS = itertools.count(51)  # SQL Server gives user sessions ids from 51 (1-50: system)
_SPIDS_LOCK = threading.Lock()
# The column of lab_session each function reads.
COLUMNS = {"APP_NAME": "app_name", "HOST_NAME": "host_name", "SUSER_SNAME": "login", "@@SPID": "spid"}


def next_spid() -> int:
    with _SPIDS_LOCK:
        return next(_SPIDS)


@dataclass(frozen=True)
class Identity:
    spid: int
    app_name: str
    host_name: str
    login: str


def open_session(db: sqlite3.Connection, identity: Identity) -> None:
    """Give the connection its session identity (once, at login)."""
    db.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {TABLE} (spid INTEGER NOT NULL, app_name TEXT NOT NULL, "
        "host_name TEXT NOT NULL, login TEXT NOT NULL)"
    )
    db.execute(f"DELETE FROM temp.{TABLE}")
    db.execute(
        f"INSERT INTO temp.{TABLE} (spid, app_name, host_name, login) VALUES (?, ?, ?, ?)",
        (identity.spid, identity.app_name, identity.host_name, identity.login),
    )


def function_name(node: exp.Expression) -> str | None:
    """The session function `node` calls (a key of COLUMNS), else None. sqlglot reads
    SUSER_SNAME() as its CurrentUser, which it also makes of CURRENT_USER (a database user, not
    the login): the lab's dialect keeps SUSER_SNAME apart (translate.LabTSQL)."""
    if isinstance(node, exp.Anonymous) and str(node.this).upper() in COLUMNS and not node.expressions:
        return str(node.this).upper()
    if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Parameter) and node.this.name.upper() == "SPID":
        return "@@SPID"
    return None


def native(node: exp.Expression) -> exp.Expression | None:
    """The native SQLite expression of a session function: a read of the connection's own
    lab_session row (run by whichever connection deleted: the trigger sees the deleting
    session). None when `node` is not one."""
    name = function_name(node)
    if name is None:
        return None
    return exp.maybe_parse(f"(SELECT {COLUMNS[name]} FROM {TABLE})", dialect="sqlite")
