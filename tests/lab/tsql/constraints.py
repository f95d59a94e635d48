"""The DDL of keys and derived columns: computed columns and FOREIGN KEYs in CREATE TABLE,
and CREATE [UNIQUE] INDEX. Storage and enforcement: keys.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from tests.lab.tsql import catalog, keys, native
from tests.lab.tsql.catalog import CatalogColumn
from tests.lab.tsql.errors import SqlError, invalid_object, unsupported
from tests.lab.tsql.infer import ColType, Typer
from tests.lab.tsql.translate import sqlite_sql

if TYPE_CHECKING:
    from tests.lab.tsql.session import Session


def is_computed(item: exp.ColumnDef) -> bool:
    return any(isinstance(c.kind, exp.ComputedColumnConstraint) for c in item.constraints)


def computed_column(s: Session, table: str, item: exp.ColumnDef, plain: list[CatalogColumn]) -> CatalogColumn:
    """`name AS (expr)`: a SQLite generated column (VIRTUAL: computed when read, as SQL Server's
    non-persisted ones); its type is the expression's."""
    constraint = next(c.kind for c in item.constraints if isinstance(c.kind, exp.ComputedColumnConstraint))
    if len(item.constraints) > 1 or constraint.args.get("persisted"):
        raise unsupported(f"computed column options ({item.sql(dialect='tsql')})")
    expression = constraint.this.copy()

    def no_tables(node: exp.Table) -> str:
        raise unsupported("a table in a computed column")

    native.rewrite(expression, no_tables, "a computed column")
    names = {c.name.lower() for c in plain}
    for column in expression.find_all(exp.Column):
        if column.table or column.name.lower() not in names:
            raise SqlError(207, f"Invalid column name '{column.name}'.")
    typer = Typer(s.db, {})
    typer.define(table, [(c.name, ColType(c.type, c.length, c.nullable)) for c in plain])
    kind = typer.projections(exp.select(expression.copy()).from_(exp.to_table(table)))[0][1]
    if kind.type is None or kind.type == "timestamp":
        raise unsupported(f"a computed column whose type the lab cannot infer ({item.name})")
    return CatalogColumn(item.name, kind.type, kind.size, True, computed=True, expression=sqlite_sql(expression))


def foreign_key(s: Session, table: str, item: exp.Expression, cols: list[CatalogColumn]) -> tuple[str, str]:
    """(SQLite clause, name) of a table-level [CONSTRAINT name] FOREIGN KEY (a) REFERENCES t (b)."""
    key = item if isinstance(item, exp.ForeignKey) else item.find(exp.ForeignKey)
    reference = key.args.get("reference")
    if reference is None or reference.args.get("options") or key.args.get("delete") or key.args.get("update"):
        raise unsupported("FOREIGN KEY options (ON DELETE / ON UPDATE)")
    name = item.name if isinstance(item, exp.Constraint) else ""
    columns = [e.name for e in key.expressions]
    target = reference.this.this if isinstance(reference.this, exp.Schema) else reference.this
    ref_columns = [e.name for e in reference.this.expressions] if isinstance(reference.this, exp.Schema) else []
    name = name or f"FK__{table}__{target.name}"
    ref_table = catalog.table_name(s.db, target.name)
    if ref_table is None:
        raise SqlError(1767, f"Foreign key '{name}' references invalid table '{target.name}'.")
    known = {c.name.lower() for c in cols}
    for column in columns:
        if column.lower() not in known:
            raise SqlError(1769, f"Foreign key '{name}' references invalid column '{column}' in referencing table "
                           f"'{table}'.")  # fmt: skip
    pk = [c.name.lower() for c in sorted((c for c in catalog.columns(s.db, ref_table) if c.pk), key=lambda c: c.pk)]
    wanted = [c.lower() for c in ref_columns] or pk
    if len(wanted) != len(columns) or (wanted != pk and keys.unique_index_on(s.db, ref_table, wanted) is None):
        raise SqlError(1776, f"There are no primary or candidate keys in the referenced table '{ref_table}' that "
                       f"match the referencing column list in the foreign key '{name}'.")  # fmt: skip
    return keys.foreign_key_clause(columns, ref_table, wanted), name


def record_foreign_keys(s: Session, table: str, items: list[tuple[exp.Expression, str]]) -> None:
    for item, name in items:
        key = item if isinstance(item, exp.ForeignKey) else item.find(exp.ForeignKey)
        reference = key.args["reference"]
        target = reference.this.this if isinstance(reference.this, exp.Schema) else reference.this
        ref_table = catalog.table_name(s.db, target.name) or target.name
        refs = [e.name for e in reference.this.expressions] if isinstance(reference.this, exp.Schema) else []
        if not refs:
            refs = [c.name for c in sorted((c for c in catalog.columns(s.db, ref_table) if c.pk), key=lambda c: c.pk)]
        keys.record_foreign_key(s.db, name, table, [e.name for e in key.expressions], ref_table, refs)


def create_index(s: Session, tree: exp.Create) -> None:
    """CREATE [UNIQUE] [NONCLUSTERED] INDEX name ON t (a, b)."""
    kind = str(tree.args.get("kind") or "").upper()
    index = tree.this
    params = index.args.get("params")
    if kind != "INDEX" and kind != "NONCLUSTERED INDEX":
        raise unsupported(f"CREATE {kind} (the lab's primary keys are the clustered indexes)")
    if params is None or params.args.get("include") or params.args.get("where") or index.args.get("table") is None:
        raise unsupported("CREATE INDEX with INCLUDE, WHERE or without a table")
    columns = []
    for ordered in params.args.get("columns") or []:
        if not isinstance(ordered, exp.Ordered) or ordered.args.get("desc") or not isinstance(ordered.this, exp.Column):
            raise unsupported("CREATE INDEX on a descending key or an expression")
        columns.append(ordered.this.name)
    table_node = index.args["table"]
    table = s.translator.table(table_node)
    if table in catalog.VIEWS:
        raise invalid_object(table_node.sql(dialect="tsql"))
    name = index.name
    cols = {c.name.lower(): c for c in catalog.columns(s.db, table)}
    for column in columns:
        if column.lower() not in cols:
            raise SqlError(1911, f"Column name '{column}' does not exist in the target table or view.")
    existing = keys.index_name(s.db, name)
    if existing is not None and existing[0].lower() == table.lower():
        raise SqlError(1913, f"The operation failed because an index or statistics with name '{name}' already "
                       f"exists on table 'dbo.{table}'.")  # fmt: skip
    if existing is not None or s.db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone():
        raise unsupported(f"an index name used elsewhere in the database ({name}): SQLite's names are per database")
    nullable = {c.name.lower() for c in cols.values() if c.nullable}
    try:
        keys.create_index(s.db, table, name, [cols[c.lower()].name for c in columns], bool(tree.args.get("unique")),
                          nullable)  # fmt: skip
    except Exception as error:
        if "UNIQUE constraint failed" not in str(error):
            raise
        raise SqlError(1505, f"The CREATE UNIQUE INDEX statement terminated because a duplicate key was found for "
                       f"the object name 'dbo.{table}' and the index name '{name}'.") from None  # fmt: skip
