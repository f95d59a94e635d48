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

from tests.lab.tsql import who
from tests.lab.tsql.errors import SqlError, unsupported
from tests.lab.tsql.firing import DELETED

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


def rewrite(
    tree: exp.Expression,
    table: Callable[[exp.Table], str],
    context: str,
    deleted: list[str] | None = None,
) -> exp.Expression:
    """`tree` (a checked copy) for native SQLite, in place. `table` resolves a table reference to
    its stored name; `deleted`, when given, are the columns of the pseudo table `deleted`."""
    for node in list(tree.walk()):
        session_value = who.native(node)  # APP_NAME(), HOST_NAME(), SUSER_SNAME(), @@SPID
        if session_value is not None:
            session_value.meta["lab_session"] = True
            node.replace(session_value)
    for node in list(tree.walk(prune=lambda n: n.meta.get("lab_session"))):
        if node.meta.get("lab_session"):
            continue
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
    if deleted is not None:
        semi_joins_as_in(tree)
    return tree


def conjuncts(node: exp.Expression) -> list[exp.Expression]:
    node = node.unnest()
    return [*conjuncts(node.this), *conjuncts(node.expression)] if isinstance(node, exp.And) else [node]


def _positive_in_where(node: exp.Expression) -> bool:
    """Is `node` one of the AND-ed conditions of a WHERE (where false and NULL both drop the row)?"""
    parent = node.parent
    while isinstance(parent, exp.And | exp.Paren):
        parent = parent.parent
    return isinstance(parent, exp.Where)


def _source_name(source: exp.Expression) -> str | None:
    if isinstance(source, exp.Table):
        return (source.alias or source.name).lower()
    if isinstance(source, exp.Subquery) and source.alias:
        return source.alias.lower()
    return None


def semi_joins_as_in(tree: exp.Expression) -> None:
    """Beside `WHERE EXISTS (SELECT .. FROM s WHERE s.k = o.k AND ...)`, an index-friendly
    `o.k IN (SELECT s.k FROM s WHERE <its conditions on s only>)`, innermost first.

    A trigger body's EXISTS subqueries relate `deleted` (or a table matched to it) to a large
    table by key. SQLite runs a correlated EXISTS once per row of the outer table: a scan of
    the backup for every deleted row, N² in all. With
    the IN beside it, SQLite evaluates the IN's subquery once and looks the outer rows up by
    their index, as SQL Server's semi-join does; the EXISTS is kept and decides, so the answer
    is the same: only a condition AND-ed into a WHERE gets the IN (there a false and a NULL both
    drop the row), the subquery must read one source, and the IN only leaves out rows the
    EXISTS would refuse."""
    for node in reversed(list(tree.walk())):
        if not isinstance(node, exp.Exists) or not _positive_in_where(node):
            continue
        select = node.this
        if not isinstance(select, exp.Select) or any(
            select.args.get(k) for k in ("joins", "group", "having", "limit", "distinct", "order")
        ):
            continue
        source = select.args.get("from_") or select.args.get("from")
        name = _source_name(source.this) if source else None
        where = select.args.get("where")
        if name is None or where is None:
            continue
        inner_names = {n for n in (_source_name(t) for t in select.find_all(exp.Table, exp.Subquery)) if n}
        pairs, rest = [], []
        for cond in conjuncts(where.this):
            sides = (cond.this, cond.expression) if isinstance(cond, exp.EQ) else ()
            tables = [s.table.lower() if isinstance(s, exp.Column) else "" for s in sides]
            if len(tables) == 2 and name in tables and all(tables) and tables[0] != tables[1]:
                inner, outer = sides if tables[0] == name else sides[::-1]
                if outer.table.lower() not in inner_names:
                    pairs.append((inner, outer))
                    continue
            if all(c.table.lower() in inner_names for c in cond.find_all(exp.Column)):
                rest.append(cond)  # conditions on the outer row stay with the EXISTS only
        if not pairs:
            continue
        query = exp.select(*(inner.copy() for inner, _ in pairs)).from_(source.this.copy())
        if rest:
            query = query.where(exp.and_(*(r.copy() for r in rest)))
        left = pairs[0][1].copy() if len(pairs) == 1 else exp.Tuple(expressions=[o.copy() for _, o in pairs])
        semi_join = exp.In(this=left, query=exp.Subquery(this=query))
        node.replace(exp.Paren(this=exp.And(this=semi_join, expression=node.copy())))


def _table(node: exp.Table, table: Callable[[exp.Table], str], context: str, deleted: list[str] | None) -> None:
    schema = (node.text("db") or "").lower()
    if deleted is not None and not schema and node.name.lower() == "deleted":
        # the TEMP table firing.py fills with the statement's deleted rows when the trigger runs
        alias = node.alias or "deleted"
        node.set("this", exp.to_identifier(DELETED, quoted=True))
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        return
    if node.name.lower() == "inserted" and not schema:
        raise unsupported(f"the pseudo table inserted in {context}")
    if schema in ("sys", "information_schema"):
        raise unsupported(f"catalog views in {context}")
    node.set("this", exp.to_identifier(table(node), quoted=True))
    node.set("db", None)
    node.set("catalog", None)
