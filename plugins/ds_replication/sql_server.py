"""Which SQL Server a DS database runs on, and how close it is to its edition's size cap.

The floor is SQL Server 2005 (9.00): the scripts and catalog reads use `sys.*` views and the
two-argument `OBJECT_ID`, which SQL Server 2000 and MSDE 2000 lack. Express caps the data
of a database: 4 GB on 2005 and 2008, 10 GB from 2008 R2 (10.50) on; MSDE 2000 at 2 GB. The
backup and archive tables this package keeps grow the slave's database toward that cap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ds_replication.lasting import LastingError
from ds_replication.sql import query
from ds_replication.templates import render

FLOOR = (9, 0)
NEAR_CAP = 0.8  # warn from this share of the cap on
_VERSION = re.compile(r" - (\d+)\.(\d+)\.(\d+)")


class OldSqlServer(LastingError):
    pass


@dataclass(frozen=True)
class SqlServer:
    version: str  # e.g. 9.00.5000
    major: int
    minor: int
    edition: str  # as @@VERSION words it, e.g. "Express Edition", "Desktop Engine"

    @property
    def cap_mb(self) -> int | None:
        """The edition's cap on a database's data, in MB; None when it has none."""
        if "Desktop Engine" in self.edition:
            return 2048
        if "Express" not in self.edition:
            return None
        return 10240 if (self.major, self.minor) >= (10, 50) else 4096


def _edition(text: str) -> str:
    found = re.search(r"\b(Desktop Engine|[A-Za-z]+ Edition(?: with Advanced Services)?(?: \(64-bit\))?)", text)
    return found.group(1) if found else "unknown edition"


def read_server(conn: Any) -> SqlServer:
    """Version and edition from @@VERSION (it reads the same on every version, 2000 included)."""
    return parse_version(str(query(conn, render("server_version.sql"))[0]["version"]))


def parse_version(text: str) -> SqlServer:
    found = _VERSION.search(text)
    if not found:
        raise ValueError(f"cannot read a version from @@VERSION: {text!r}")
    major, minor, build = (int(g) for g in found.groups())
    return SqlServer(f"{major}.{minor:02d}.{build}", major, minor, _edition(text))


def refuse_old(server: SqlServer, conn_id: str) -> None:
    if (server.major, server.minor) < FLOOR:
        raise OldSqlServer(
            f"the SQL Server of connection {conn_id} is version {server.version} ({server.edition}; 8.00 is "
            "SQL Server 2000 / MSDE 2000): this package needs SQL Server 2005 (9.00) or later, whose sys.* "
            "views its scripts read. See docs/supported-servers.md."
        )


def data_mb(conn: Any) -> float:
    """Size of the current database's data files in MB (the log does not count toward the cap)."""
    rows = query(conn, render("data_size.sql"))
    return round(int(rows[0]["pages"] or 0) * 8192 / 1024 / 1024, 1)
