"""Collations: the ones the lab knows, how each compares, and SQL Server's collation precedence
(docs: "Collation Precedence (Transact-SQL)").

Every character column has a collation (`lab_catalog.collation_name`; the database default
unless its definition says `COLLATE name`). An expression's collation has a label: explicit
(a `COLLATE` clause), implicit (a column reference), coercible-default (a literal, a variable,
a function without string input: the database default) or no-collation (two implicit
collations combined, e.g. by `+`). A comparison of two character expressions uses the
collation that wins; two different implicit collations (or a no-collation) cannot be compared:
Msg 468, as SQL Server raises it. A `COLLATE DATABASE_DEFAULT` on either side resolves that.

The lab compares case-insensitively (_CI_: SQLite's NOCASE, which folds ASCII letters only) or
byte for byte (_CS_ and _BIN/_BIN2: BINARY); accent-insensitive and other collations are refused
by name rather than compared some other way.
"""

from __future__ import annotations

import sqlite3

from tests.lab.tsql import server
from tests.lab.tsql.errors import SqlError, unsupported

# The collations the lab compares as SQL Server does (for `=`, `<>`, IN, INTERSECT, ...).
KNOWN = {
    "SQL_Latin1_General_CP1_CI_AS": "NOCASE",
    "SQL_Latin1_General_CP1_CS_AS": "BINARY",
    "Latin1_General_CI_AS": "NOCASE",
    "Latin1_General_CS_AS": "BINARY",
    "Latin1_General_BIN": "BINARY",
    "Latin1_General_BIN2": "BINARY",
}
_BY_LOWER = {name.lower(): name for name in KNOWN}
CHARACTER_TYPES = frozenset({"char", "varchar", "nchar", "nvarchar", "text", "ntext"})

# Collation labels, in the order of precedence of "Collation Precedence (Transact-SQL)".
COERCIBLE = 0
IMPLICIT = 1
NO_COLLATION = 2
EXPLICIT = 3

# The operation SQL Server's Msg 468 names, per comparison.
CONFLICT = 'Cannot resolve the collation conflict between "{}" and "{}" in the {} operation.'


def database_default(db: sqlite3.Connection) -> str:
    """The database's (and the server's) default collation: SERVERPROPERTY('Collation')."""
    return str(server.fact(db, "collation"))


def resolve(db: sqlite3.Connection, name: str) -> str:
    """A collation named in T-SQL, as SQL Server spells it; DATABASE_DEFAULT is the database's."""
    if name.upper() == "DATABASE_DEFAULT":
        return database_default(db)
    known = _BY_LOWER.get(name.lower())
    if known is None:
        raise unsupported(f"collation {name} (the lab knows {', '.join(KNOWN)} and DATABASE_DEFAULT)")
    return known


def sqlite_collation(name: str | None) -> str:
    """The SQLite collation that compares as `name` does."""
    return KNOWN.get(name or "", "NOCASE")


def is_character(kind: str | None) -> bool:
    return kind in CHARACTER_TYPES


def invalid_for(kind: str) -> SqlError:
    """COLLATE on a column or expression that is not character data (Msg 447)."""
    return SqlError(447, f"Expression type {kind} is invalid for COLLATE clause.")


Labelled = tuple[str | None, int]  # (collation, label); collation None: no-collation


def combine(left: Labelled, right: Labelled, operation: str | None = None) -> Labelled:
    """The collation of two character expressions combined ("Collation Precedence"); with
    `operation` (a comparison) a result without a collation is Msg 468."""
    (a, a_label), (b, b_label) = left, right
    if a_label == EXPLICIT and b_label == EXPLICIT and a != b:
        raise SqlError(468, CONFLICT.format(a, b, operation or "concatenation"))
    if a_label == EXPLICIT or b_label == EXPLICIT:
        result = left if a_label == EXPLICIT else right
    elif NO_COLLATION in (a_label, b_label):
        result = (None, NO_COLLATION)
    elif a_label == IMPLICIT and b_label == IMPLICIT:
        result = left if a == b else (None, NO_COLLATION)
    elif IMPLICIT in (a_label, b_label):
        result = left if a_label == IMPLICIT else right
    else:
        result = left
    if operation is not None and result[1] == NO_COLLATION:
        raise SqlError(468, CONFLICT.format(a or "(no collation)", b or "(no collation)", operation))
    return result
