"""One T-SQL statement through sqlglot: parsed, checked against the subset, rewritten for SQLite.

`parse` and `check` run when the batch is compiled (so a batch with a refused construct runs
nothing); `Translator.rewrite` runs when the statement runs, because it needs the tables
that exist then and the values of the variables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.dialects.tsql import TSQL
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from tests.lab.tsql import catalog, collation, server, who
from tests.lab.tsql.errors import SqlError, invalid_object, syntax_error, unsupported
from tests.lab.tsql.functions import DATETIME_STYLES
from tests.lab.tsql.infer import ColType, Typer, type_name

STATEMENTS = (exp.Select, exp.SetOperation, exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop,
              exp.TruncateTable, exp.Alter)  # fmt: skip
# Functions of the subset (sqlglot's classes); any other function is refused by name.
FUNCTIONS = (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg, exp.Coalesce, exp.Case, exp.If, exp.Cast,
             exp.Convert, exp.Length, exp.Upper, exp.Lower, exp.ObjectId, exp.CurrentTimestamp, exp.Exists)  # fmt: skip
ANONYMOUS = {
    "GETUTCDATE",
    "COLUMNPROPERTY",
    "SERVERPROPERTY",
    "DATABASEPROPERTYEX",
    "APP_NAME",
    "HOST_NAME",
    "SUSER_SNAME",
}
REFUSED_NODES = {
    exp.With: "common table expressions (WITH)",
    exp.Merge: "MERGE",
    exp.Window: "window functions (OVER)",
    exp.Pivot: "PIVOT",
    exp.Lateral: "APPLY",
    exp.Command: "this statement",
    exp.TryCast: "TRY_CAST / TRY_CONVERT",
    exp.Offset: "OFFSET / FETCH",
    exp.Fetch: "OFFSET / FETCH",
    exp.Qualify: "QUALIFY",
    exp.Returning: "OUTPUT clauses",
    exp.GroupConcat: "function STRING_AGG",
}
DDL_KINDS = {
    exp.Create: ("TABLE", "INDEX", "NONCLUSTERED INDEX"),
    exp.Drop: ("TABLE", "TRIGGER"),
}  # CREATE TRIGGER: triggers.py
GLOBALS = ("rowcount", "trancount", "error", "spid", "version", "servername", "language")
COLUMN_PROPERTIES = {"isidentity": "is_identity", "allowsnull": "is_nullable"}


# The words SQL Server's Msg 402 uses for each comparison operator.
OPERATOR_WORDS = {exp.EQ: "equal to", exp.NEQ: "not equal to", exp.LT: "less than", exp.GT: "greater than",
                  exp.LTE: "less than or equal to", exp.GTE: "greater than or equal to"}  # fmt: skip


def is_assignment(node: exp.Expression) -> bool:
    """`col = value` of an UPDATE's SET: an assignment, not a comparison."""
    return isinstance(node.parent, exp.Update) and node.arg_key == "expressions"


def check_lob_use(tree: exp.Expression, typer: Typer) -> None:
    """text, ntext and image cannot be compared, sorted, grouped or made DISTINCT (SQL Server's
    "ntext, text, and image" docs): Msg 402 for a comparison or IN, 306 for ORDER BY and GROUP BY,
    421 for DISTINCT and UNION. IS NULL and LIKE are allowed; a CAST to a (max) type is the way out."""

    def lob(node: exp.Expression) -> str | None:
        kind = typer.expr(node).type
        return kind if kind is not None and catalog.is_lob(kind) else None

    for node in tree.walk():
        if isinstance(node, (*OPERATOR_WORDS, exp.In)) and not is_assignment(node):
            pairs = (
                [(node.this, e) for e in node.expressions]
                if isinstance(node, exp.In)
                else [(node.this, node.expression)]
            )
            word = OPERATOR_WORDS.get(type(node), "equal to")
            for left, right in pairs:
                if right is None or not (lob(left) or lob(right)):
                    continue
                left_type, right_type = typer.expr(left).type or "varchar", typer.expr(right).type or "varchar"
                raise SqlError(402, f"The data types {left_type} and {right_type} are incompatible in the {word} "
                               "operator.")  # fmt: skip
        elif isinstance(node, exp.Select):
            sorted_by = [o.this for o in (node.args.get("order") or exp.Order()).expressions]
            grouped = list((node.args.get("group") or exp.Group()).expressions)
            if any(lob(e) for e in sorted_by + grouped):
                raise SqlError(306, "The text, ntext, and image data types cannot be compared or sorted, except "
                               "when using IS NULL or LIKE operator.")  # fmt: skip
            distinct = node.args.get("distinct") is not None or (
                isinstance(node.parent, exp.Union) and node.parent.args.get("distinct")
            )
            if distinct:
                for _, kind in typer.projections(node):
                    if kind.type and catalog.is_lob(kind.type):
                        raise SqlError(421, f"The {kind.type} data type cannot be selected as DISTINCT because it "
                                       "is not comparable.")  # fmt: skip


SET_OPERATIONS = {exp.Intersect: "INTERSECT", exp.Except: "EXCEPT", exp.Union: "UNION"}


def check_collations(db: sqlite3.Connection, tree: exp.Expression, typer: Typer) -> list[tuple[exp.Expression, str]]:
    """SQL Server's collation precedence ("Collation Precedence (Transact-SQL)", collation.py):
    every COLLATE names a collation the lab knows (on character data: else Msg 447), and every
    comparison of two character expressions has one collation (else Msg 468). Returns each
    comparison (or set operation) with the SQLite collation it must use (apply_collations)."""
    for node in tree.find_all(exp.Collate):
        if node.meta.get("lab_comparison") or "collation" in node.meta:
            continue
        kind = typer.expr(node.this).type
        if kind is not None and not collation.is_character(kind):
            raise collation.invalid_for(kind)
        node.meta["collation"] = collation.resolve(db, node.expression.name)
        node.set("expression", exp.Var(this=collation.sqlite_collation(node.meta["collation"])))
    chosen = []
    for node in tree.walk():
        if isinstance(node, (*OPERATOR_WORDS, exp.In, exp.Like, exp.Between)) and not is_assignment(node):
            word = OPERATOR_WORDS.get(type(node), "like" if isinstance(node, exp.Like) else "equal to")
            left = node.this
            others = list(node.expressions) if isinstance(node, exp.In) else []
            others += [node.args[k] for k in ("expression", "low", "high") if node.args.get(k) is not None]
            labelled = [typer.collation(e) for e in others if collation.is_character(typer.expr(e).type)]
            query = node.args.get("query") if isinstance(node, exp.In) else None
            if query is not None:
                cols = typer.projections(query.this if isinstance(query, exp.Subquery) else query)
                if cols and collation.is_character(cols[0][1].type):
                    labelled.append((cols[0][1].collation or collation.database_default(db), collation.IMPLICIT))
            if not labelled or not collation.is_character(typer.expr(left).type):
                continue
            result = typer.collation(left)
            for other in labelled:
                result = collation.combine(result, other, word)
            sqlite_name = collation.sqlite_collation(result[0])
            if isinstance(node, exp.Like) and sqlite_name != "NOCASE":
                raise unsupported(f"LIKE under the case-sensitive collation {result[0]}")
            chosen.append((node, sqlite_name))
        elif isinstance(node, tuple(SET_OPERATIONS)) and node.args.get("distinct") is not False:
            pairs = zip(typer.projections(node.this), typer.projections(node.expression), strict=False)
            for position, ((_, left), (_, right)) in enumerate(pairs):
                if collation.is_character(left.type) and collation.is_character(right.type):
                    default = collation.database_default(db)
                    result = collation.combine((left.collation or default, collation.IMPLICIT),
                                               (right.collation or default, collation.IMPLICIT),
                                               SET_OPERATIONS[type(node)])  # fmt: skip
                    chosen.append((node, f"{position}:{collation.sqlite_collation(result[0])}"))
    return chosen


def apply_collations(chosen: list[tuple[exp.Expression, str]]) -> None:
    """Each comparison compares as its collation: SQLite's COLLATE on its left side (SQLite
    would otherwise take the left column's own); a set operation's, on its first SELECT's column."""
    for node, name in chosen:
        if isinstance(node, exp.SetOperation):
            position, name = name.split(":")
            first = node.this
            while isinstance(first, exp.SetOperation | exp.Subquery):
                first = first.this
            projection = first.expressions[int(position)]
            inner = projection.unalias()
            wrapped = exp.Collate(this=inner.copy(), expression=exp.Var(this=name))
            wrapped.meta["lab_comparison"] = True
            if isinstance(projection, exp.Alias):
                projection.set("this", wrapped)
            elif isinstance(inner, exp.Column):
                projection.replace(exp.alias_(wrapped, inner.name, quoted=True))
            else:
                projection.replace(wrapped)
            continue
        wrapped = exp.Collate(this=node.this, expression=exp.Var(this=name))
        wrapped.meta["lab_comparison"] = True
        node.set("this", wrapped)


def _compare_dates_as_dates(tree: exp.Expression, typer: Typer) -> None:
    """A string compared with a datetime is converted to datetime first (datetime ranks above the
    strings in SQL Server's data type precedence), so it is read under the session's DATEFORMAT
    (and fails with Msg 241/242 as there), not compared as text with the lab's storage form."""
    strings = ("char", "varchar", "nchar", "nvarchar")
    changes = []
    for node in tree.walk():
        if isinstance(node, (*OPERATOR_WORDS, exp.In, exp.Between)):
            sides = [node.this, *(node.expressions if isinstance(node, exp.In) else [])]
            sides += [node.args[k] for k in ("expression", "low", "high") if node.args.get(k) is not None]
            kinds = [typer.expr(side).type for side in sides]
            if "datetime" in kinds:
                changes += [(side, kind) for side, kind in zip(sides, kinds, strict=True) if kind in strings]
    for side, kind in changes:
        args = [side.copy(), exp.Literal.string("datetime"), exp.null(), exp.null(), exp.Literal.string(kind)]
        side.replace(exp.Anonymous(this="lab_cast", expressions=args))


class LabTSQL(TSQL):
    """T-SQL as sqlglot reads it, but `ntext` kept apart from `text` (sqlglot reads both as TEXT):
    the lab stores, sends and refuses them as SQL Server does. MEDIUMTEXT stands for ntext."""

    class Tokenizer(TSQL.Tokenizer):
        KEYWORDS = {**TSQL.Tokenizer.KEYWORDS, "NTEXT": TokenType.MEDIUMTEXT}

    class Parser(TSQL.Parser):
        # sqlglot reads SUSER_SNAME() as CURRENT_USER (a database user): kept apart (tsql/who.py)
        FUNCTIONS = {**TSQL.Parser.FUNCTIONS, "SUSER_SNAME": lambda args: exp.Anonymous(this="SUSER_SNAME",
                                                                                       expressions=args)}  # fmt: skip


def parse(text: str) -> exp.Expression:
    """One statement as sqlglot's T-SQL tree; SqlError 102 when it does not parse."""
    try:
        trees = [t for t in sqlglot.parse(text, read=LabTSQL) if t is not None]
    except (ParseError, TokenError) as error:
        near = ""
        if isinstance(error, ParseError) and error.errors:
            near = (error.errors[0].get("highlight") or "").strip()
        raise syntax_error(near or text.split()[0]) from None
    if len(trees) != 1:
        raise syntax_error(text.split()[-1])
    return trees[0]


def check(tree: exp.Expression) -> None:
    """Refuse whatever lies outside the subset, naming it."""
    if not isinstance(tree, STATEMENTS):
        raise unsupported(f"statement {type(tree).__name__.upper()}")
    if (
        isinstance(tree, exp.Drop | exp.Create)
        and str(tree.args.get("kind") or "").upper() not in DDL_KINDS[type(tree)]
    ):
        raise unsupported(f"{type(tree).__name__.upper()} {tree.args.get('kind')}")
    if isinstance(tree, exp.Drop) and tree.args.get("exists"):
        raise unsupported("DROP TABLE IF EXISTS (SQL Server 2016 and later; the project stays 2005-compatible)")
    if isinstance(tree, exp.Create) and (tree.args.get("exists") or tree.expression is not None):
        raise unsupported("CREATE TABLE ... AS / IF NOT EXISTS")
    for node in tree.walk():
        for kind, what in REFUSED_NODES.items():
            if isinstance(node, kind):
                raise unsupported(what)
        schema = node.text("db").lower() if isinstance(node, exp.Table) else ""
        if schema in ("sys", "information_schema") and (schema, node.name.lower()) not in catalog.VIEW_OF:
            raise unsupported(f"catalog view {schema}.{node.name}")
        if isinstance(node, exp.Table) and node.args.get("hints"):
            raise unsupported(f"table hints ({node.sql(dialect='tsql')})")
        if isinstance(node, exp.LimitOptions) and (node.args.get("percent") or node.args.get("with_ties")):
            raise unsupported("TOP ... PERCENT / WITH TIES")
        if isinstance(node, exp.Anonymous) and str(node.this).upper() not in ANONYMOUS:
            raise unsupported(f"function {str(node.this).upper()}")
        if isinstance(node, exp.Func) and not isinstance(node, (*FUNCTIONS, exp.Anonymous, exp.Binary, exp.Predicate)):
            raise unsupported(f"function {node.sql_name()}")
        if isinstance(node, exp.Values) and not isinstance(node.parent, exp.Insert):
            raise unsupported("VALUES as a table")
        if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Parameter):
            name = node.this.name.lower()
            if name not in GLOBALS:
                raise unsupported(f"@@{name.upper()}")


def variables_used(tree: exp.Expression) -> list[str]:
    """Names of the @variables a statement reads (lower case, without @)."""
    return [
        n.name.lower()
        for n in tree.find_all(exp.Parameter)
        if not isinstance(n.this, exp.Parameter) and not isinstance(n.parent, exp.Parameter)
    ]


class Translator:
    """Rewrites checked trees for one session's connection and variables."""

    def __init__(
        self,
        db: sqlite3.Connection,
        database: Callable[[], str],
        variable: Callable[[str], tuple[Any, ColType]],
        global_value: Callable[[str], Any],
    ) -> None:
        self.db = db
        self.database = database
        self.variable = variable
        self.global_value = global_value

    def table(self, node: exp.Table, must_exist: bool = True) -> str:
        """The stored name of a table reference; catalog views by their TEMP view names."""
        schema, db_name = (node.text("db") or "").lower(), (node.text("catalog") or "").lower()
        written = ".".join(p for p in (node.text("catalog"), node.text("db"), node.name) if p)
        if db_name not in ("", self.database().lower()):
            raise invalid_object(written)
        if schema == "sys" and not server.has_catalog_views(self.db):
            raise invalid_object(written)  # SQL Server 2000 / MSDE 2000
        if schema in ("sys", "information_schema"):
            view = catalog.VIEW_OF.get((schema, node.name.lower()))
            if view is None:
                raise unsupported(f"catalog view {schema}.{node.name}")
            return view
        if schema not in ("", "dbo"):
            raise invalid_object(written)
        stored = catalog.table_name(self.db, node.name)
        if stored is None and must_exist:
            raise invalid_object(written)
        return stored or node.name

    def rewrite(self, tree: exp.Expression, skip: tuple[exp.Expression, ...] = ()) -> tuple[exp.Expression, dict]:
        """A copy of `tree` that SQLite runs, and its parameters. Tables in `skip` are left alone."""
        params: dict[str, Any] = {}
        types: dict[str, ColType] = {}
        skipped = {id(n) for n in skip}
        for node in list(tree.walk()):
            if isinstance(node, exp.Table) and id(node) not in skipped:
                node.set("this", exp.to_identifier(self.table(node), quoted=True))
                node.set("db", None)
                node.set("catalog", None)
            elif isinstance(node, exp.Column) and node.args.get("db") is not None:
                node.set("db", None)
                node.set("catalog", None)
            elif isinstance(node, exp.National):
                literal = exp.Literal.string(node.this)
                literal.meta["national"] = True  # N'...' is nvarchar (infer.Typer)
                node.replace(literal)
            elif isinstance(node, exp.Parameter) and not isinstance(node.parent, exp.Parameter):
                name, value, kind = self._parameter(node)
                params[name], types[name] = value, kind
                node.replace(exp.Placeholder(this=name))
        typer = Typer(self.db, types)
        check_lob_use(tree, typer)
        compared = check_collations(self.db, tree, typer)
        _compare_dates_as_dates(tree, typer)
        self._functions(tree, typer)
        apply_collations(compared)
        return tree, {"params": params, "types": types, "typer": typer}

    def _parameter(self, node: exp.Parameter) -> tuple[str, Any, ColType]:
        if isinstance(node.this, exp.Parameter):
            name = node.this.name.lower()
            value = self.global_value(name)
            kind = ColType("nvarchar" if isinstance(value, str) else "int", None, False)
            return f"g_{name}", value, kind
        name = node.name.lower()
        value, kind = self.variable(name)
        return f"v_{name}", value, kind

    def _functions(self, tree: exp.Expression, typer: Typer) -> None:
        # Innermost first, so a replaced argument is already in its final form.
        for node in reversed(list(tree.walk())):
            replacement = self._function(node, typer)
            if replacement is not None:
                if node is tree:
                    raise unsupported("a bare expression as a statement")
                node.replace(replacement)

    def _function(self, node: exp.Expression, typer: Typer) -> exp.Expression | None:
        call = exp.Anonymous
        session_value = who.native(node)  # APP_NAME(), HOST_NAME(), SUSER_SNAME(): this session's
        if session_value is not None and isinstance(node, exp.Anonymous):
            return session_value
        if isinstance(node, exp.Add):
            return call(this="lab_add", expressions=[node.this, node.expression])
        if isinstance(node, exp.Div):
            return call(this="lab_div", expressions=[node.this, node.expression])
        if isinstance(node, exp.Mod):
            return call(this="lab_mod", expressions=[node.this, node.expression])
        if isinstance(node, exp.Length):
            return call(this="lab_len", expressions=[node.this])
        if isinstance(node, exp.CurrentTimestamp):
            return call(this="lab_getdate", expressions=[])
        if isinstance(node, exp.Anonymous) and str(node.this).upper() == "GETUTCDATE":
            return call(this="lab_getutcdate", expressions=[])
        if isinstance(node, exp.Anonymous) and str(node.this).upper() == "SERVERPROPERTY":
            if len(node.expressions) != 1:
                raise unsupported("SERVERPROPERTY with other than one argument")
            return call(this="lab_serverproperty", expressions=[node.expressions[0]])
        if isinstance(node, exp.Anonymous) and str(node.this).upper() == "DATABASEPROPERTYEX":
            return self._database_property(node)
        if isinstance(node, exp.Cast | exp.Convert):
            return self._cast(node, typer)
        if isinstance(node, exp.ObjectId):
            return self._object_id(node)
        if isinstance(node, exp.Anonymous) and str(node.this).upper() == "COLUMNPROPERTY":
            return self._column_property(node)
        return None

    def _cast(self, node: exp.Cast | exp.Convert, typer: Typer) -> exp.Expression:
        to, value = (node.this, node.expression) if isinstance(node, exp.Convert) else (node.to, node.this)
        target, size = type_name(to)
        if target is None or target == "timestamp":
            raise unsupported(f"CAST / CONVERT to {to.sql(dialect='tsql')}")
        style = node.args.get("style")
        if style is not None and not isinstance(style, exp.Literal):
            raise unsupported("CONVERT with a computed style")
        source = typer.expr(value).type
        iso = style is not None and int(style.this) in DATETIME_STYLES
        if target in ("char", "varchar", "nchar", "nvarchar") and source == "datetime" and not iso:
            raise unsupported(f"CONVERT of a datetime to a string without an ISO style ({sorted(DATETIME_STYLES)})")
        args = [
            value,
            exp.Literal.string(target),
            exp.Literal.number(size) if size is not None else exp.null(),
            exp.Literal.number(int(style.this)) if style is not None else exp.null(),
            exp.Literal.string(source) if source else exp.null(),
        ]
        return exp.Anonymous(this="lab_cast", expressions=args)

    def _object_id(self, node: exp.ObjectId) -> exp.Expression:
        lookup = sqlglot.parse_one(
            "(SELECT lab_o.object_id FROM sys_objects AS lab_o WHERE lab_o.name = lab_object_name(lab_arg) "
            "AND (lab_kind IS NULL OR lab_o.type = lab_kind))",
            read="sqlite",
        )
        kind = node.expression if node.expression is not None else exp.null()
        for column in list(lookup.find_all(exp.Column)):
            if column.name == "lab_arg":
                column.replace(node.this.copy())
            elif column.name == "lab_kind":
                column.replace(exp.Anonymous(this="upper", expressions=[kind.copy()]))  # OBJECT_ID(name): any type
        return lookup

    def _database_property(self, node: exp.Anonymous) -> exp.Expression:
        """DATABASEPROPERTYEX(database, 'Collation'): the database's default collation (the
        server's: SERVERPROPERTY('Collation')); NULL for a database that does not exist."""
        if len(node.expressions) != 2 or not isinstance(node.expressions[1], exp.Literal):
            raise unsupported("DATABASEPROPERTYEX other than (database, 'property')")
        if str(node.expressions[1].this).lower() != "collation":
            raise unsupported(f"DATABASEPROPERTYEX property '{node.expressions[1].this}' (the lab has 'Collation')")
        lookup = sqlglot.parse_one(
            f"CASE WHEN lower(lab_db) = '{self.database().lower()}' THEN lab_serverproperty('Collation') END",
            read="sqlite",
        )
        for column in list(lookup.find_all(exp.Column)):
            if column.name == "lab_db":
                column.replace(node.expressions[0].copy())
        return lookup

    def _column_property(self, node: exp.Anonymous) -> exp.Expression:
        if len(node.expressions) != 3 or not isinstance(node.expressions[2], exp.Literal):
            raise unsupported("COLUMNPROPERTY with a computed property name")
        prop = COLUMN_PROPERTIES.get(str(node.expressions[2].this).lower())
        if prop is None:
            raise unsupported(f"COLUMNPROPERTY '{node.expressions[2].this}'")
        lookup = sqlglot.parse_one(
            f"CAST((SELECT lab_c.{prop} FROM sys_columns AS lab_c "
            "WHERE lab_c.object_id = lab_id AND lab_c.name = lab_name) AS INT)",
            read="sqlite",
        )
        for column in list(lookup.find_all(exp.Column)):
            if column.name == "lab_id":
                column.replace(node.expressions[0].copy())
            elif column.name == "lab_name":
                column.replace(node.expressions[1].copy())
        return lookup


class LabSQLite(SQLite):
    """SQLite with `backquoted` names: a "double-quoted" name that matches no column would
    silently become a string in SQLite, where SQL Server reports error 207."""

    class Tokenizer(SQLite.Tokenizer):
        IDENTIFIERS = ["`", '"']


def sqlite_sql(tree: exp.Expression) -> str:
    return tree.sql(dialect=LabSQLite, identify=True)
