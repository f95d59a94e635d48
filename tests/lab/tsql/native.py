"""T-SQL as SQL that any SQLite connection runs, without the interpreter's `lab_*` functions:
the bodies of triggers (a simulated DS tool deletes through a plain sqlite3 connection and
fires them) and the expressions of computed columns.

Only constructs whose SQLite meaning is T-SQL's are let through; the rest is refused by name.
Errors a statement must raise when it runs are `RAISE(ABORT, '<number>|<message>')`, which
`raised_error` turns back into the SqlError.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from tests.lab.tsql.errors import SqlError, unsupported

# GETDATE() in the lab's datetime text form (YYYY-MM-DD HH:MM:SS.fff), read when the statement runs.
NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime')"
UTC_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
_RAISED = re.compile(r"^(\d+)\|(.*)$", re.DOTALL)
# What SQLite computes differently (or only through lab_* functions): refused in native SQL.
REFUSED = {
    exp.Add: "'+' (string or number: the lab decides at run time)",
    exp.Length: "LEN",
    exp.Cast: "CAST / CONVERT",
    exp.Convert: "CAST / CONVERT",
    exp.ObjectId: "OBJECT_ID",
    exp.Parameter: "variables",
}


def raise_sql(number: int, message: str) -> str:
    """A SQLite expression that fails the running statement with SQL Server error `number`."""
    return "RAISE(ABORT, '" + f"{number}|{message}".replace("'", "''") + "')"


def raised_error(message: str) -> SqlError | None:
    """The SqlError a native RAISE carried (its message as sqlite3 reports it), else None."""
    m = _RAISED.match(message)
    return SqlError(int(m.group(1)), m.group(2)) if m else None


def old_row(columns: list[str]) -> exp.Subquery:
    """The pseudo table `deleted` of a row trigger: a one-row derived table of OLD's values."""
    select = exp.select(*(exp.alias_(exp.column(c, table="OLD", quoted=True), c, quoted=True) for c in columns))
    return exp.Subquery(this=select)


def rewrite(
    tree: exp.Expression,
    table: Callable[[exp.Table], str],
    context: str,
    deleted: list[str] | None = None,
) -> exp.Expression:
    """`tree` (a checked copy) for native SQLite, in place. `table` resolves a table reference to
    its stored name; `deleted`, when given, are the columns of the pseudo table `deleted`."""
    for node in list(tree.walk()):
        if isinstance(node, exp.Table):
            _table(node, table, context, deleted)
        elif isinstance(node, exp.Column) and node.args.get("db") is not None:
            node.set("db", None)
            node.set("catalog", None)
        elif isinstance(node, exp.National):
            node.replace(exp.Literal.string(node.this))
        elif isinstance(node, exp.CurrentTimestamp):
            node.replace(exp.maybe_parse(NOW, dialect="sqlite"))
        elif isinstance(node, exp.Anonymous) and str(node.this).upper() == "GETUTCDATE":
            node.replace(exp.maybe_parse(UTC_NOW, dialect="sqlite"))
        elif isinstance(node, exp.Anonymous):
            raise unsupported(f"function {str(node.this).upper()} in {context}")
        elif isinstance(node, exp.Div | exp.Mod):
            divisor = node.expression
            if not (isinstance(divisor, exp.Literal) and not divisor.is_string and float(divisor.this) != 0):
                # SQLite gives NULL where T-SQL raises 8134
                raise unsupported(f"'/' or '%' by anything but a non-zero number in {context}")
        else:
            for kind, what in REFUSED.items():
                if isinstance(node, kind):
                    raise unsupported(f"{what} in {context}")
    return tree


def _table(node: exp.Table, table: Callable[[exp.Table], str], context: str, deleted: list[str] | None) -> None:
    schema = (node.text("db") or "").lower()
    if deleted is not None and not schema and node.name.lower() == "deleted":
        alias = node.alias or "deleted"
        derived = old_row(deleted)
        derived.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        node.replace(derived)
        return
    if node.name.lower() == "inserted" and not schema:
        raise unsupported(f"the pseudo table inserted in {context}")
    if schema in ("sys", "information_schema"):
        raise unsupported(f"catalog views in {context}")
    node.set("this", exp.to_identifier(table(node), quoted=True))
    node.set("db", None)
    node.set("catalog", None)
