"""The T-SQL type of every column a query returns, from the catalog and the expressions.

The TDS layer encodes values by type, and SELECT ... INTO creates columns of these types,
so a COUNT must come out as int and a datetime column as datetime, whatever SQLite holds.
Works on translated trees: tables already resolved to their stored names, variables as
placeholders, T-SQL functions as `lab_*` calls.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace

from sqlglot import exp

from tests.lab.tsql import catalog, collation
from tests.lab.tsql.catalog import CatalogColumn

NUMERIC_ORDER = ("bit", "tinyint", "smallint", "int", "bigint", "decimal", "float")
TYPE_NAMES = {
    exp.DType.INT: "int", exp.DType.BIGINT: "bigint", exp.DType.SMALLINT: "smallint",
    exp.DType.TINYINT: "tinyint", exp.DType.BIT: "bit", exp.DType.BOOLEAN: "bit", exp.DType.FLOAT: "float",
    exp.DType.DOUBLE: "float", exp.DType.DECIMAL: "decimal", exp.DType.NVARCHAR: "nvarchar",
    exp.DType.VARCHAR: "varchar", exp.DType.CHAR: "char", exp.DType.NCHAR: "nchar",
    exp.DType.DATETIME: "datetime", exp.DType.VARBINARY: "varbinary", exp.DType.TEXT: "text",
    exp.DType.MEDIUMTEXT: "ntext", exp.DType.IMAGE: "image",
    exp.DType.ROWVERSION: "timestamp",
}  # fmt: skip


@dataclass(frozen=True)
class ColType:
    type: str | None  # T-SQL type; None when only the values can tell
    size: int | None = None
    nullable: bool = True
    identity: CatalogColumn | None = None  # set on a plain reference to an IDENTITY column
    collation: str | None = None  # a character column's (collation.py); None: the database default


UNKNOWN = ColType(None)


def type_name(kind: exp.DataType) -> tuple[str | None, int | None]:
    """(T-SQL type, length) of a DataType node; (None, None) for types outside the subset."""
    name = TYPE_NAMES.get(kind.this)
    size = None
    if kind.expressions:
        text = kind.expressions[0].sql()
        size = None if text.upper() == "MAX" else int(text)
    elif name in ("char", "nchar", "varchar", "nvarchar", "varbinary"):
        size = 30 if name in ("varchar", "nvarchar") else 1
    return name, size


class Typer:
    def __init__(self, db: sqlite3.Connection, variables: dict[str, ColType]) -> None:
        self.db = db
        self.variables = variables  # placeholder name -> type
        self._tables: dict[str, list[tuple[str, ColType]]] = {}
        self._default_collation: str | None = None

    def define(self, name: str, columns: list[tuple[str, ColType]]) -> None:
        """The columns of a table that does not exist yet (for CREATE TABLE's computed columns)."""
        self._tables[name.lower()] = columns

    # -- sources --------------------------------------------------------------------------

    def table_columns(self, name: str) -> list[tuple[str, ColType]]:
        key = name.lower()
        if key not in self._tables:
            if key in catalog.VIEWS:
                names = [r[1] for r in self.db.execute(f'PRAGMA table_info("{name}")')]
                types = catalog.VIEW_COLUMN_TYPES
                self._tables[key] = [(n, ColType(types.get((key, n)) or types.get(n, "nvarchar"))) for n in names]
            else:
                self._tables[key] = [
                    (c.name, ColType(c.type, c.length, c.nullable, c if c.identity else None, c.collation))
                    for c in catalog.columns(self.db, name)
                ]
        return self._tables[key]

    def sources(self, select: exp.Select | exp.Delete | exp.Update) -> list[tuple[str, list[tuple[str, ColType]]]]:
        """(alias, columns) of each table or derived table in the FROM clause, in order (of a
        DELETE or UPDATE: its target first)."""
        out = []
        items = [select.this] if isinstance(select, exp.Delete | exp.Update) else []
        items += [select.args["from_"].this] if select.args.get("from_") else []
        items += [j.this for j in select.args.get("joins") or []]
        for item in items:
            if isinstance(item, exp.Table):
                out.append((item.alias_or_name.lower(), self.table_columns(item.name)))
            elif isinstance(item, exp.Subquery):
                out.append((item.alias_or_name.lower(), self.projections(item.this)))
        return out

    def projections(self, query: exp.Expression) -> list[tuple[str, ColType]]:
        """(name, type) of each column a query returns; '' names expressions without alias."""
        while isinstance(query, exp.SetOperation):
            query = query.this
        if isinstance(query, exp.Subquery):
            return self.projections(query.this)
        if not isinstance(query, exp.Select):
            return []
        out: list[tuple[str, ColType]] = []
        for projection in query.expressions:
            inner = projection.unalias()
            if isinstance(inner, exp.Star) or (isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)):
                wanted = inner.table.lower() if isinstance(inner, exp.Column) else ""
                for alias, cols in self.sources(query):
                    if not wanted or alias == wanted:
                        out.extend(cols)
                continue
            name = projection.alias if isinstance(projection, exp.Alias) else ""
            if not name and isinstance(inner, exp.Column):
                name = inner.name
            kind = self.expr(inner)
            if collation.is_character(kind.type):  # SELECT ... INTO copies it, a derived table keeps it
                kind = replace(kind, collation=self.collation(inner)[0])
            out.append((name, kind))
        return out

    def collation(self, node: exp.Expression) -> collation.Labelled:
        """The collation of a character expression and its label ("Collation Precedence")."""
        if self._default_collation is None:  # read once per statement
            self._default_collation = collation.database_default(self.db)
        default = self._default_collation
        if isinstance(node, exp.Paren | exp.Alias | exp.Upper | exp.Lower | exp.Min | exp.Max):
            return self.collation(node.this)
        if isinstance(node, exp.Collate):
            if node.meta.get("lab_comparison"):  # the translator's own, on a comparison already checked
                return self.collation(node.this)
            return node.meta.get("collation") or default, collation.EXPLICIT
        if isinstance(node, exp.Column):
            return self.column(node).collation or default, collation.IMPLICIT
        if isinstance(node, exp.Subquery):
            cols = self.projections(node.this)
            return (cols[0][1].collation if cols else None) or default, collation.IMPLICIT
        if isinstance(node, exp.Cast | exp.Convert):  # a string keeps its collation (docs: CAST and CONVERT)
            source = node.expression if isinstance(node, exp.Convert) else node.this
            if collation.is_character(self.expr(source).type):
                return self.collation(source)
            return default, collation.COERCIBLE
        parts: list[exp.Expression] = []
        if isinstance(node, exp.Add | exp.DPipe):
            parts = [node.this, node.expression]
        elif isinstance(node, exp.Coalesce):
            parts = [node.this, *node.expressions]
        elif isinstance(node, exp.Case):
            parts = [i.args["true"] for i in node.args.get("ifs") or []] + [node.args.get("default")]
        elif isinstance(node, exp.Anonymous) and str(node.this).lower() in ("lab_add", "isnull"):
            parts = list(node.expressions)
        parts = [p for p in parts if p is not None and collation.is_character(self.expr(p).type)]
        if not parts:
            return default, collation.COERCIBLE  # a literal, a variable, a function of no string
        result = self.collation(parts[0])
        for part in parts[1:]:
            result = collation.combine(result, self.collation(part))
        return result

    # -- expressions ----------------------------------------------------------------------

    def column(self, node: exp.Column) -> ColType:
        wanted, name = node.table.lower(), node.name.lower()
        scope = node.parent
        while scope is not None:
            if isinstance(scope, exp.Select | exp.Delete | exp.Update):
                for alias, cols in self.sources(scope):
                    if wanted and alias != wanted:
                        continue
                    for col_name, kind in cols:
                        if col_name.lower() == name:
                            return kind
            scope = scope.parent
        return UNKNOWN

    def expr(self, node: exp.Expression) -> ColType:
        if isinstance(node, exp.Paren | exp.Alias | exp.Collate):
            return self.expr(node.this)
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.Placeholder):
            return self.variables.get(str(node.this), UNKNOWN)
        if isinstance(node, exp.Null):
            return ColType("int")
        if isinstance(node, exp.Literal):
            if node.is_string:
                kind = "nvarchar" if node.meta.get("national") else "varchar"
                return ColType(kind, max(len(node.this), 1), False)
            text = node.this
            if "e" in text.lower():
                return ColType("float", None, False)
            if "." in text:
                return ColType("decimal", None, False)
            return ColType("int" if -(2**31) <= int(text) < 2**31 else "bigint", None, False)
        if isinstance(node, exp.Neg):
            return self.expr(node.this)
        if isinstance(node, exp.Count):
            return ColType("int", None, False)
        if isinstance(node, exp.Sum | exp.Avg):
            kind = self.expr(node.this).type
            return ColType("int" if kind in ("bit", "tinyint", "smallint") else kind)
        if isinstance(node, exp.Min | exp.Max):
            return replace(self.expr(node.this), nullable=True, identity=None)
        if isinstance(node, exp.Coalesce):
            kinds = [self.expr(node.this), *(self.expr(e) for e in node.expressions)]
            known = next((k for k in kinds if k.type), UNKNOWN)
            return ColType(known.type, known.size, all(k.nullable for k in kinds))
        if isinstance(node, exp.Case):
            kinds = [self.expr(i.args["true"]) for i in node.args.get("ifs") or []]
            if node.args.get("default") is not None:
                kinds.append(self.expr(node.args["default"]))
            return ColType(_widest(k.type for k in kinds))
        if isinstance(node, exp.Cast):
            kind, size = type_name(node.to)
            return ColType(kind, size)
        if isinstance(node, exp.Subquery):
            cols = self.projections(node.this)
            return replace(cols[0][1], nullable=True, identity=None) if cols else UNKNOWN
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
            return self._arithmetic(type(node).__name__.lower(), self.expr(node.this), self.expr(node.expression))
        if isinstance(node, exp.DPipe):
            return ColType("nvarchar")
        if isinstance(node, exp.Upper | exp.Lower):
            return replace(self.expr(node.this), identity=None)
        if isinstance(node, exp.Length | exp.ObjectId):
            return ColType("int")
        if isinstance(node, exp.CurrentTimestamp):
            return ColType("datetime", None, False)
        if isinstance(node, exp.Anonymous):
            return self._lab_function(node)
        return UNKNOWN

    def _arithmetic(self, operator: str, left: ColType, right: ColType) -> ColType:
        if operator == "add" and "datetime" in (left.type, right.type):
            return ColType("datetime")
        strings = ("char", "varchar", "nchar", "nvarchar")
        if operator == "add" and left.type in strings and right.type in strings:
            size = (left.size or 0) + (right.size or 0) or None
            return ColType("nvarchar" if "n" in (left.type[0], right.type[0]) else "varchar", size)
        kinds = [k.type for k in (left, right) if k.type and k.type not in strings]
        # SQL Server treats arithmetic as nullable (SELECT ... INTO makes such columns NULL).
        return ColType(_widest(kinds) if kinds else None)

    def _lab_function(self, node: exp.Anonymous) -> ColType:
        name = str(node.this).lower()
        args = node.expressions
        if name == "lab_add":
            return self._arithmetic("add", self.expr(args[0]), self.expr(args[1]))
        if name in ("lab_div", "lab_mod"):
            return self._arithmetic("div", self.expr(args[0]), self.expr(args[1]))
        if name == "lab_cast":
            size = args[2].this if isinstance(args[2], exp.Literal) else None
            return ColType(args[1].this, int(size) if size is not None else None)
        if name in ("lab_getdate", "lab_getutcdate"):
            return ColType("datetime", None, False)
        if name == "lab_len":
            return ColType("int")
        if name == "lab_serverproperty":  # sql_variant in SQL Server; the lab's values are strings
            return ColType("nvarchar", 128)
        return UNKNOWN


def _widest(kinds: object) -> str | None:
    known = [k for k in kinds if k]  # type: ignore[attr-defined]
    if not known:
        return None
    numeric = [k for k in known if k in NUMERIC_ORDER]
    if len(numeric) == len(known):
        return max(numeric, key=NUMERIC_ORDER.index)
    if "datetime" in known:
        return "datetime"
    return "nvarchar" if any(k.startswith("n") for k in known) else known[0]
