"""The lab's SQL Server: a declared subset of T-SQL run on SQLite, one session per connection.

The subset (documented in tests/lab/README.md) is what the project's SQL and the seed
article's SQL need. Anything else raises error 50001 "DS lab: unsupported T-SQL: ...":
the lab refuses rather than guess.

Data statements are parsed with sqlglot (T-SQL), checked, rewritten (catalog views,
variables, qualified names) and run as SQLite. Control flow, variables, transactions,
IDENTITY and SELECT ... INTO are the interpreter's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tests.lab import tsql_catalog as catalog
from tests.lab.tsql_batch import Block, If, Simple, parse_batch
from tests.lab.tsql_errors import (
    ConnectionDropped,
    SqlError,
    invalid_column,
    invalid_object,
    syntax_error,
    unsupported,
)

__all__ = ["Column", "ConnectionDropped", "Engine", "ResultSet", "Session", "SqlError"]

Hook = Callable[[str, str, str], None]
# SET options clients send on connect; accepted, without effect on the lab.
IGNORED_SET_OPTIONS = {
    "TEXTSIZE", "ANSI_NULLS", "ANSI_NULL_DFLT_ON", "ANSI_PADDING", "ANSI_WARNINGS", "QUOTED_IDENTIFIER",
    "CONCAT_NULL_YIELDS_NULL", "ARITHABORT", "DATEFORMAT", "LANGUAGE", "LOCK_TIMEOUT", "IMPLICIT_TRANSACTIONS",
    "CURSOR_CLOSE_ON_COMMIT", "DATEFIRST", "TRANSACTION", "NUMERIC_ROUNDABORT", "ANSI_DEFAULTS",
    "DEADLOCK_PRIORITY", "ROWCOUNT", "STATISTICS",
}  # fmt: skip
UNSUPPORTED_NODES = {
    exp.With: "common table expressions (WITH)",
    exp.Merge: "MERGE",
    exp.Window: "window functions (OVER)",
    exp.Pivot: "PIVOT",
}
UNSUPPORTED_FUNCTIONS = {"STRING_AGG", "HASHBYTES", "CHECKSUM", "BINARY_CHECKSUM", "CHECKSUM_AGG", "NEWID"}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    size: int | None = None


@dataclass
class ResultSet:
    columns: list[Column]
    rows: list[tuple]


class Engine:
    """The `express` database of one lab host (an SQLite file made by ds_schema.create_express)."""

    def __init__(self, db_path: str, database: str = "express") -> None:
        self.db_path = str(db_path)
        self.database = database

    def session(self, hook: Hook | None = None) -> Session:
        return Session(self, hook)


class _Abort(Exception):
    """Ends the batch (after an error that aborts it, RETURN, or a cancel)."""


class Session:
    def __init__(self, engine: Engine, hook: Hook | None = None) -> None:
        self.engine = engine
        self.database = engine.database
        self.hook = hook or (lambda point, statement, batch: None)
        self.db = sqlite3.connect(engine.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA recursive_triggers=ON")
        self.db.execute("PRAGMA foreign_keys=OFF")
        catalog.install(self.db)
        self.variables: dict[str, Any] = {}
        self.nocount = False
        self.xact_abort = False
        self.identity_insert: str | None = None
        self.trancount = 0
        self.rowcount = 0
        self.error = 0
        self._cancelled = threading.Event()
        self._batch = ""

    # -- the TDS layer's interface ---------------------------------------------------------

    def execute(self, batch: str) -> Iterator[ResultSet | int | SqlError]:
        self._cancelled.clear()
        self._batch = batch
        self.variables = {}  # variables live for one batch
        try:
            tree = parse_batch(batch)
        except SqlError as error:
            yield error
            return
        out: list[ResultSet | int | SqlError] = []
        with contextlib.suppress(_Abort):
            self._run_block(tree, out)
        yield from out

    def cancel(self) -> None:
        """From another thread (a client's ATTENTION): stop the batch, also inside a lock wait."""
        self._cancelled.set()
        self.db.interrupt()

    def close(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self.trancount = 0
            self.db.close()

    # -- control flow -----------------------------------------------------------------------

    def _run_block(self, block: Block, out: list) -> None:
        for node in block.body:
            self._run_node(node, out)

    def _run_node(self, node: object, out: list) -> None:
        if isinstance(node, Block):
            self._run_block(node, out)
        elif isinstance(node, If):
            if self._guarded(lambda: self._condition(node.condition), node.condition, out):
                self._run_node(node.then, out)
            elif node.otherwise is not None:
                self._run_node(node.otherwise, out)
        else:
            assert isinstance(node, Simple)
            if self._cancelled.is_set():
                self._rollback_if_xact_abort()
                raise _Abort
            self.hook("statement", node.text, self._batch)
            self._guarded(lambda: self._statement(node, out), node.text, out, line=node.line)

    def _guarded(self, action: Callable[[], Any], text: str, out: list, line: int = 1) -> Any:
        """Run one statement as SQL Server would: an error ends it, and maybe the batch."""
        try:
            result = action()
            self.error = 0
            return result
        except SqlError as error:
            error.line = line
            self.error = error.number
            out.append(error)
            if self.xact_abort or error.aborts_batch:
                self._rollback_if_xact_abort()
                raise _Abort from None
            return None

    def _rollback_if_xact_abort(self) -> None:
        if self.xact_abort and self.trancount:
            self._rollback()

    # -- statements ---------------------------------------------------------------------------

    def _statement(self, node: Simple, out: list) -> None:
        keyword, text = node.keyword, node.text
        words = text.split()
        if keyword == "USE":
            name = words[1].strip("[]") if len(words) == 2 else ""
            if name.lower() != self.engine.database.lower():
                raise SqlError(911, f"Database '{name}' does not exist. Make sure that the name is entered correctly.")
            self.database = self.engine.database
        elif keyword == "SET":
            self._set(text)
        elif keyword == "DECLARE":
            self._declare(text)
        elif keyword == "BEGIN":  # BEGIN TRAN[SACTION]
            self._begin()
        elif keyword == "COMMIT":
            self._commit()
        elif keyword == "ROLLBACK":
            if not self.trancount:
                raise SqlError(3903, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
            self._rollback()
        elif keyword == "RAISERROR":
            self._raiserror(text)
        elif keyword == "RETURN":
            raise _Abort
        elif keyword == "PRINT":
            return
        elif keyword in ("SELECT", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "TRUNCATE", "ALTER"):
            self._data_statement(text, out)
        else:
            raise unsupported(f"{keyword} statements")

    def _set(self, text: str) -> None:
        m = re.match(r"(?is)^SET\s+@(\w+)\s*=\s*(.+)$", text)
        if m:
            self.variables[m.group(1).lower()] = self._scalar(m.group(2))
            return
        words = text.split()
        option = words[1].upper() if len(words) > 1 else ""
        value = words[-1].upper()
        if option == "NOCOUNT":
            self.nocount = value == "ON"
        elif option == "XACT_ABORT":
            self.xact_abort = value == "ON"
        elif option == "IDENTITY_INSERT" and len(words) == 4:
            table = words[2].strip("[]").split(".")[-1].strip("[]")
            cols = catalog.columns(self.db, table)
            if not cols:
                raise invalid_object(table)
            if not any(c["identity"] for c in cols):
                raise SqlError(
                    8106,
                    f"Table '{table}' does not have the identity property. Cannot perform SET operation.",
                )
            if value == "ON":
                if self.identity_insert and self.identity_insert.lower() != table.lower():
                    raise SqlError(
                        8107,
                        f"IDENTITY_INSERT is already ON for table 'express.dbo.{self.identity_insert}'. "
                        f"Cannot perform SET operation for table '{table}'.",
                    )
                self.identity_insert = table
            elif self.identity_insert and self.identity_insert.lower() == table.lower():
                self.identity_insert = None
        elif option not in IGNORED_SET_OPTIONS:
            raise unsupported(f"SET {option}")

    def _declare(self, text: str) -> None:
        body = text[len("DECLARE") :].strip()
        for part in _split_top_level(body):
            m = re.match(r"(?is)^@(\w+)\s+(?:AS\s+)?([A-Za-z]+(?:\s*\([^)]*\))?)\s*(?:=\s*(.+))?$", part.strip())
            if not m:
                raise syntax_error(part.strip()[:30])
            self.variables[m.group(1).lower()] = self._scalar(m.group(3)) if m.group(3) else None

    def _raiserror(self, text: str) -> None:
        m = re.match(r"(?is)^RAISERROR\s*\((.*)\)\s*(WITH\s+\w+)?$", text)
        if not m:
            raise syntax_error("RAISERROR")
        args = [self._scalar(a) for a in _split_top_level(m.group(1))]
        message, severity = str(args[0]), int(args[1]) if len(args) > 1 else 16
        state = int(args[2]) if len(args) > 2 else 1
        for value in args[3:]:
            message = re.sub(r"%[ds]", str(value), message, count=1)
        if severity >= 11:
            raise SqlError(50000, message, severity=severity, state=state)

    # -- transactions -------------------------------------------------------------------------

    def _begin(self) -> None:
        if self.trancount == 0:
            # Deferred, as SQL Server's reads take no lasting locks; the first write waits for
            # another session's open write transaction (a lock wait).
            self.db.execute("BEGIN")
        self.trancount += 1

    def _commit(self) -> None:
        if not self.trancount:
            raise SqlError(3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
        if self.trancount == 1:
            try:
                self.hook("commit", "COMMIT", self._batch)
            except ConnectionDropped:
                self._rollback()
                raise
            self.db.execute("COMMIT")
            self.trancount = 0
            self.hook("committed", "COMMIT", self._batch)
        else:
            self.trancount -= 1

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self.trancount = 0

    # -- data statements ----------------------------------------------------------------------

    def _data_statement(self, text: str, out: list) -> None:
        tree = self._parse(self._substitute(_mark_assignments(text)))
        if isinstance(tree, exp.Select) and tree.args.get("into") is not None:
            self._select_into(tree)
        elif isinstance(tree, exp.Select | exp.Union | exp.Except | exp.Intersect):
            assignments = _assignments(tree)
            if assignments:
                self._assign(tree, assignments)
            else:
                out.append(self._query(tree))
                self.rowcount = len(out[-1].rows)
        elif isinstance(tree, exp.Insert):
            self._insert(tree)
            self._count(out)
        elif isinstance(tree, exp.Delete | exp.Update):
            self._dml(tree)
            self._count(out)
        elif isinstance(tree, exp.Drop):
            self._drop(tree)
        elif isinstance(tree, exp.Create):
            self._create(tree)
        elif isinstance(tree, exp.TruncateTable):
            for table in tree.expressions:
                self._run(f'DELETE FROM "{self._table_name(table)}"')
        elif isinstance(tree, exp.Alter):
            self._alter(tree)
        else:
            raise unsupported(type(tree).__name__)

    def _count(self, out: list) -> None:
        if not self.nocount:
            out.append(self.rowcount)

    def _parse(self, text: str) -> exp.Expression:
        try:
            trees = sqlglot.parse(text, read="tsql")
        except ParseError as error:
            near = error.errors[0].get("highlight", "") if error.errors else ""
            raise syntax_error(near or text.split()[0]) from None
        if len(trees) != 1 or trees[0] is None:
            raise syntax_error(text[:30])
        tree = trees[0]
        for node in tree.walk():
            for kind, what in UNSUPPORTED_NODES.items():
                if isinstance(node, kind):
                    raise unsupported(what)
            if isinstance(node, exp.Anonymous) and str(node.this).upper() in UNSUPPORTED_FUNCTIONS:
                raise unsupported(f"function {str(node.this).upper()}")
            if isinstance(node, exp.GroupConcat):
                raise unsupported("function STRING_AGG")
            if isinstance(node, exp.Command):
                raise unsupported(f"statement {str(node.this).upper()}")
        if isinstance(tree, exp.Drop) and tree.args.get("exists"):
            raise unsupported("DROP TABLE IF EXISTS (SQL Server 2016+; the project stays 2005-compatible)")
        return tree

    def _substitute(self, text: str) -> str:
        """Variables and @@functions become literals (the statement runs once)."""

        def literal(name: str, is_global: bool) -> str:
            if is_global:
                values = {"rowcount": self.rowcount, "trancount": self.trancount, "error": self.error,
                          "spid": 51, "version": "DS lab (T-SQL subset on SQLite)"}  # fmt: skip
                if name.lower() not in values:
                    raise unsupported(f"@@{name}")
                value = values[name.lower()]
            else:
                if name.lower() not in self.variables:
                    raise SqlError(137, f'Must declare the scalar variable "@{name}".', severity=15)
                value = self.variables[name.lower()]
            return _sql_literal(value)

        return _replace_outside_strings(text, literal)

    def _scalar(self, expression: str) -> Any:
        result = self._query(self._parse(self._substitute(f"SELECT {expression}")))
        return result.rows[0][0] if result.rows else None

    def _condition(self, condition: str) -> bool:
        return bool(self._scalar(f"CASE WHEN {condition} THEN 1 ELSE 0 END"))

    def _rewrite(self, tree: exp.Expression) -> exp.Expression:
        """T-SQL names and literals as SQLite knows them; unknown tables refused."""
        for node in list(tree.find_all(exp.ObjectId)):
            # NULL unless the table exists, as SQL Server's OBJECT_ID
            lookup = sqlglot.parse_one(
                "(SELECT t.object_id FROM sys_tables AS t WHERE lower(t.name) = lower(lab_object_name(x)))",
                read="sqlite",
            )
            next(c for c in lookup.find_all(exp.Column) if c.name == "x").replace(node.this.copy())
            node.replace(lookup)
        for node in list(tree.find_all(exp.Div)):
            node.replace(exp.Anonymous(this="lab_div", expressions=[node.this.copy(), node.expression.copy()]))
        for node in list(tree.walk()):
            if isinstance(node, exp.National):
                node.replace(exp.Literal.string(node.this))
            elif isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
                schema = (node.text("db") or "").lower()
                name = node.name
                if schema == "sys":
                    name = f"sys_{name.lower()}"
                elif schema == "information_schema":
                    name = f"information_schema_{name.lower()}"
                elif schema not in ("", "dbo") or (node.text("catalog") or "").lower() not in (
                    "",
                    self.database.lower(),
                ):
                    raise invalid_object(node.sql(dialect="tsql"))
                elif name.lower() not in catalog.VIEWS and not catalog.table_exists(self.db, name):
                    raise invalid_object(name)
                node.set("db", None)
                node.set("catalog", None)
                node.set("this", exp.to_identifier(name, quoted=True))
        return tree

    def _run(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, params)
        except sqlite3.IntegrityError as error:
            raise _integrity_error(str(error), sql) from None
        except sqlite3.OperationalError as error:
            message = str(error)
            if "user-defined function raised exception" in message:  # lab_div, the only one that raises
                raise SqlError(8134, "Divide by zero error encountered.") from None
            if message.startswith("no such column"):
                raise invalid_column(message.split(":", 1)[1].strip().split(".")[-1]) from None
            if message.startswith("no such table"):
                raise invalid_object(message.split(":", 1)[1].strip()) from None
            if message == "interrupted":
                self._rollback_if_xact_abort()
                raise _Abort from None
            if "locked" in message or "busy" in message:
                raise SqlError(1222, "Lock request time out period exceeded.") from None
            raise unsupported(f"{message} (in {sql[:200]!r})") from None

    def _query(self, tree: exp.Expression) -> ResultSet:
        tree = self._rewrite(tree)
        cursor = self._run(tree.sql(dialect="sqlite"))
        names = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
        types = self._result_types(tree, names, rows)
        columns = [Column(n, t) for n, t in zip(names, types, strict=True)]
        return ResultSet(columns, [tuple(_convert(v, t) for v, t in zip(r, types, strict=True)) for r in rows])

    def _result_types(self, tree: exp.Expression, names: list[str], rows: list[tuple]) -> list[str]:
        known: dict[str, str] = {}
        for table in tree.find_all(exp.Table):
            for col in catalog.columns(self.db, table.name):
                known.setdefault(col["name"].lower(), col["type"])
            if table.name.startswith(("sys_", "information_schema_")):
                known.update(catalog.VIEW_COLUMN_TYPES)
        projections = tree.selects if isinstance(tree, exp.Query) else []
        types = []
        for i, name in enumerate(names):
            projection = projections[i] if i < len(projections) else None
            inner = projection.unalias() if projection is not None else None
            if isinstance(inner, exp.Column | exp.Star) or inner is None:
                types.append(known.get(name.lower()) or _type_of_values(r[i] for r in rows))
            elif isinstance(inner, exp.Count):
                types.append("int")
            else:
                types.append(_type_of_values(r[i] for r in rows))
        return types

    def _assign(self, tree: exp.Query, assignments: list[tuple[str, exp.Expression]]) -> None:
        tree = tree.copy()
        tree.set("expressions", [value for _, value in assignments])
        result = self._query(tree)
        if result.rows:
            for (name, _), value in zip(assignments, result.rows[-1], strict=True):
                self.variables[name] = value
        self.rowcount = len(result.rows)

    def _source_columns(self, tree: exp.Select) -> list[dict]:
        """Columns a SELECT ... INTO creates, with SQL Server's rule for IDENTITY."""
        sources = {}
        for table in tree.find_all(exp.Table):
            for col in catalog.columns(self.db, table.name):
                sources.setdefault(col["name"].lower(), col)
        out = []
        for projection in tree.selects:
            inner = projection.unalias()
            if isinstance(inner, exp.Star):
                (table,) = [t for t in tree.find_all(exp.Table)][:1] or [None]
                if table is None:
                    raise unsupported("SELECT * INTO without FROM")
                out.extend(dict(c, pk=None) for c in catalog.columns(self.db, table.name))
                continue
            name = projection.alias_or_name
            if not name:
                raise SqlError(1038, "An object or column name is missing or empty.")
            if isinstance(inner, exp.Column) and inner.name.lower() in sources:
                out.append(dict(sources[inner.name.lower()], name=name, pk=None))
                continue
            # An expression: no IDENTITY; a numeric type from its columns, else by value later.
            col_types = [
                sources[c.name.lower()]["type"] for c in inner.find_all(exp.Column) if c.name.lower() in sources
            ]
            out.append(
                {
                    "name": name,
                    "type": col_types[0] if col_types else "nvarchar",
                    "nullable": True,
                    "pk": None,
                }
            )
        return out

    def _select_into(self, tree: exp.Select) -> None:
        into = tree.args["into"]
        target = self._table_name(into.this)
        if catalog.table_exists(self.db, target):
            raise SqlError(2714, f"There is already an object named '{target}' in the database.")
        select = tree.copy()
        select.set("into", None)
        select = self._rewrite(select)
        cols = self._source_columns(select)
        catalog.create_table(self.db, target, cols)
        names = ", ".join(f'"{c["name"]}"' for c in cols)
        cursor = self._run(f'INSERT INTO "{target}" ({names}) {select.sql(dialect="sqlite")}')
        self.rowcount = cursor.rowcount

    def _table_name(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Schema):
            node = node.this
        return node.name if isinstance(node, exp.Table) else str(node.name)

    def _insert(self, tree: exp.Insert) -> None:
        target = self._table_name(tree.this)
        cols = catalog.columns(self.db, target)
        if not cols:
            raise invalid_object(target)
        listed = [c.name.lower() for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else None
        identity = next((c["name"] for c in cols if c["identity"]), None)
        identity_on = self.identity_insert is not None and self.identity_insert.lower() == target.lower()
        if identity and identity_on and listed is None:
            raise SqlError(
                8101,
                f"An explicit value for the identity column in table '{target}' can only be specified when a "
                "column list is used and IDENTITY_INSERT is ON.",
            )
        if identity and not identity_on and (listed is None or identity.lower() in listed):
            raise SqlError(
                544,
                f"Cannot insert explicit value for identity column in table '{target}' "
                "when IDENTITY_INSERT is set to OFF.",
            )
        if identity and listed is not None and identity.lower() not in listed:
            pk = [c for c in cols if c["pk"]]
            if [c["name"] for c in pk] != [identity]:
                raise unsupported("IDENTITY values for a table whose primary key is not the identity column")
        for name in listed or []:
            if name not in {c["name"].lower() for c in cols}:
                raise invalid_column(name)
        tree = self._rewrite(tree)
        self.rowcount = self._run(tree.sql(dialect="sqlite")).rowcount

    def _dml(self, tree: exp.Delete | exp.Update) -> None:
        if isinstance(tree, exp.Update) and tree.args.get("from"):
            raise unsupported("UPDATE ... FROM")
        if isinstance(tree, exp.Delete) and tree.args.get("tables"):
            # DELETE alias FROM table AS alias WHERE ...: SQLite takes the alias on the table itself
            targets = [t.name.lower() for t in tree.args["tables"]]
            this = tree.this
            if this.alias_or_name.lower() not in targets:
                raise unsupported("DELETE with a join")
            tree = tree.copy()
            tree.set("tables", None)
        tree = self._rewrite(tree)
        self.rowcount = self._run(tree.sql(dialect="sqlite")).rowcount

    def _drop(self, tree: exp.Drop) -> None:
        if str(tree.args.get("kind", "")).upper() != "TABLE":
            raise unsupported(f"DROP {tree.args.get('kind')}")
        for table in tree.args.get("tables") or [tree.this]:
            name = self._table_name(table)
            if not catalog.table_exists(self.db, name):
                raise SqlError(
                    3701,
                    f"Cannot drop the table '{name}', because it does not exist or you do not have permission.",
                    severity=11,
                )
            if self.identity_insert and self.identity_insert.lower() == name.lower():
                self.identity_insert = None
            catalog.drop_table(self.db, name)

    def _create(self, tree: exp.Create) -> None:
        if str(tree.args.get("kind", "")).upper() != "TABLE" or not isinstance(tree.this, exp.Schema):
            raise unsupported(f"CREATE {tree.args.get('kind')}")
        name = self._table_name(tree.this)
        if catalog.table_exists(self.db, name):
            raise SqlError(2714, f"There is already an object named '{name}' in the database.")
        cols, pk = [], []
        for item in tree.this.expressions:
            if isinstance(item, exp.ColumnDef):
                cols.append(_column_def(item))
                if cols[-1].pop("primary", False):
                    pk.append(cols[-1]["name"])
            elif isinstance(item, exp.PrimaryKey) or (isinstance(item, exp.Constraint) and item.find(exp.PrimaryKey)):
                key = item if isinstance(item, exp.PrimaryKey) else item.find(exp.PrimaryKey)
                pk.extend(e.name for e in key.expressions)
            else:
                raise unsupported(f"table element {item.sql(dialect='tsql')}")
        for col in cols:
            if col["name"] in pk:
                col["pk"] = pk.index(col["name"]) + 1
                col["nullable"] = False
        catalog.create_table(self.db, name, cols)

    def _alter(self, tree: exp.Alter) -> None:
        name = self._table_name(tree.this)
        cols = catalog.columns(self.db, name)
        if not cols:
            raise invalid_object(name)
        for action in tree.args.get("actions") or []:
            if not isinstance(action, exp.ColumnDef):
                raise unsupported("ALTER TABLE other than ADD column")
            col = _column_def(action)
            if not col.get("nullable", True) and col.get("default") is None:
                raise unsupported("ALTER TABLE ADD of a NOT NULL column without a default")
            sqlite_type = catalog.SQLITE_TYPES.get(col["type"], "TEXT")
            self.db.execute(f'ALTER TABLE "{name}" ADD COLUMN "{col["name"]}" {sqlite_type}')
            col["pk"] = None
            cols.append(col)
            self.db.execute("DELETE FROM lab_catalog WHERE lower(table_name) = lower(?)", (name,))
            catalog.record_table(self.db, name, cols)


# -- helpers -----------------------------------------------------------------------------------


ASSIGN_PREFIX = "lab_assign_"


def _mark_assignments(text: str) -> str:
    """`SELECT @v = expr, ...`: mark the targets so they are not read as values."""
    m = re.match(r"(?is)^(SELECT\s+(?:TOP\s+\d+\s+)?)(.*)$", text)
    if not m:
        return text
    head, rest = m.groups()
    stop = re.search(r"(?i)\b(FROM|INTO|WHERE|GROUP|ORDER|UNION|EXCEPT)\b", rest)
    projection, tail = (rest[: stop.start()], rest[stop.start() :]) if stop else (rest, "")
    parts = _split_top_level(projection)
    marked = [re.sub(r"^(\s*)@(\w+)(\s*)=(?!=)", rf"\1[{ASSIGN_PREFIX}\2]\3=", p) for p in parts]
    return head + ",".join(marked) + (" " if stop and not marked[-1].endswith(" ") else "") + tail


def _assignments(tree: exp.Expression) -> list[tuple[str, exp.Expression]]:
    if not isinstance(tree, exp.Select):
        return []
    pairs = []
    for projection in tree.expressions:
        # T-SQL reads `[name] = expr` as an alias; sqlglot keeps that reading
        if isinstance(projection, exp.Alias) and projection.alias.lower().startswith(ASSIGN_PREFIX):
            pairs.append((projection.alias.lower().removeprefix(ASSIGN_PREFIX), projection.this))
    if pairs and len(pairs) != len(tree.expressions):
        raise SqlError(
            141,
            "A SELECT statement that assigns a value to a variable must not be combined with "
            "data-retrieval operations.",
            severity=15,
        )
    return pairs


def _column_def(item: exp.ColumnDef) -> dict:
    kind = item.args.get("kind")
    if kind is None:
        raise syntax_error(item.name)
    type_name = kind.this.name.lower() if hasattr(kind.this, "name") else str(kind.this).lower()
    type_name = {"text": "nvarchar", "nvarchar": "nvarchar", "char": "char", "boolean": "bit", "double": "float",
                 "bit": "bit", "int": "int", "bigint": "bigint", "smallint": "smallint", "tinyint": "tinyint",
                 "datetime": "datetime", "varchar": "varchar", "nchar": "nchar", "float": "float",
                 "decimal": "decimal", "varbinary": "varbinary"}.get(type_name)  # fmt: skip
    if type_name is None:
        raise unsupported(f"column type {kind.sql(dialect='tsql')}")
    length = None
    if kind.expressions:
        size = kind.expressions[0].sql()
        length = None if size.upper() == "MAX" else int(size)
    col = {"name": item.name, "type": type_name, "length": length, "nullable": True}
    for constraint in item.constraints:
        c = constraint.kind
        if isinstance(c, exp.NotNullColumnConstraint):
            col["nullable"] = bool(c.args.get("allow_null"))
        elif isinstance(c, exp.PrimaryKeyColumnConstraint):
            col["primary"] = True
        elif isinstance(c, exp.GeneratedAsIdentityColumnConstraint):
            col["identity"] = True
            col["seed"] = int(c.args["start"].sql()) if c.args.get("start") else 1
            col["increment"] = int(c.args["increment"].sql()) if c.args.get("increment") else 1
        elif isinstance(c, exp.DefaultColumnConstraint):
            col["default"] = c.this.sql(dialect="sqlite")
        else:
            raise unsupported(f"column constraint {constraint.sql(dialect='tsql')}")
    return col


def _split_top_level(text: str) -> list[str]:
    parts, depth, quote, current = [], 0, False, ""
    for char in text:
        if char == "'":
            quote = not quote
        elif not quote and char == "(":
            depth += 1
        elif not quote and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quote:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current] if current.strip() else parts


def _replace_outside_strings(text: str, literal: Callable[[str, bool], str]) -> str:
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "'":
            j = i + 1
            while j < len(text):
                if text[j] == "'" and (j + 1 >= len(text) or text[j + 1] != "'"):
                    break
                j += 2 if text[j] == "'" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif char == "[":
            j = text.find("]", i)
            j = len(text) - 1 if j < 0 else j
            out.append(text[i : j + 1])
            i = j + 1
        elif char == "@":
            is_global = text.startswith("@@", i)
            start = i + (2 if is_global else 1)
            m = re.match(r"\w+", text[start:])
            if not m:
                raise syntax_error("@")
            out.append(literal(m.group(0), is_global))
            i = start + m.end()
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return "'" + value.isoformat(sep=" ", timespec="milliseconds") + "'"
    return "N'" + str(value).replace("'", "''") + "'"


def _type_of_values(values: Iterator[Any]) -> str:
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return "bit"
        if isinstance(value, int):
            return "int" if -(2**31) <= value < 2**31 else "bigint"
        if isinstance(value, float):
            return "float"
        if isinstance(value, bytes):
            return "varbinary"
        return "nvarchar"
    return "nvarchar"


def _convert(value: Any, type_name: str) -> Any:
    if value is None:
        return None
    if type_name == "datetime" and isinstance(value, str) and _DATETIME.match(value):
        return dt.datetime.fromisoformat(value.replace("T", " "))
    if type_name == "bit":
        return bool(value)
    if type_name in ("int", "bigint", "smallint", "tinyint") and isinstance(value, float) and value.is_integer():
        return int(value)
    if type_name in ("nvarchar", "varchar", "char", "nchar") and not isinstance(value, str):
        return str(value)
    return value


def _integrity_error(message: str, sql: str) -> SqlError:
    if message.startswith(("UNIQUE constraint failed", "PRIMARY KEY")):
        table = message.split(":", 1)[1].strip().split(".")[0] if ":" in message else "?"
        return SqlError(
            2627,
            f"Violation of PRIMARY KEY constraint 'PK_{table}'. Cannot insert duplicate key in object 'dbo.{table}'.",
            severity=14,
        )
    if message.startswith("NOT NULL constraint failed"):
        table, _, column = message.split(":", 1)[1].strip().partition(".")
        return SqlError(
            515,
            f"Cannot insert the value NULL into column '{column}', table 'express.dbo.{table}'; "
            "column does not allow nulls. INSERT fails.",
        )
    return SqlError(547, f"The statement conflicted with a constraint: {message}")
