"""CREATE TRIGGER ... AFTER DELETE and DROP TRIGGER, fired once per statement (firing.py).

The body is translated once, when it is created, into native SQL statements (native.py) that
any SQLite connection runs: `deleted` becomes the TEMP table firing.py fills with the rows
the statement deleted, so the simulated aximport's plain connection fires it too.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from tests.lab.tsql import catalog, firing, native
from tests.lab.tsql.batch import Block, Simple, Token, parse_batch, tokenize
from tests.lab.tsql.catalog import CatalogColumn
from tests.lab.tsql.errors import SqlError, invalid_column, invalid_object, object_exists, syntax_error, unsupported
from tests.lab.tsql.infer import ColType, Typer
from tests.lab.tsql.translate import apply_collations, check, check_collations, parse, sqlite_sql

if TYPE_CHECKING:
    from tests.lab.tsql.session import Session

CONTEXT = "a trigger body"
FIRST_IN_BATCH = SqlError(111, "'CREATE TRIGGER' must be the first statement in a query batch.", severity=15)


@dataclass
class TriggerDefinition:
    name: str
    table: str
    body: list[exp.Expression]  # checked trees of the body's INSERT and DELETE statements


def starts_batch(batch: str) -> bool:
    """Is the batch a CREATE TRIGGER (which must be the whole batch)?"""
    words = [t.text.upper() for t in tokenize(batch)[:2]]
    return words == ["CREATE", "TRIGGER"]


def _name(tokens: list[Token], i: int) -> tuple[list[str], int]:
    """The parts of a [schema.]name starting at tokens[i], and the index after it."""
    parts = []
    while i < len(tokens) and tokens[i].kind in ("word", "quoted"):
        text = tokens[i].text
        parts.append(text[1:-1].replace("]]", "]") if tokens[i].kind == "quoted" else text)
        if i + 1 < len(tokens) and tokens[i + 1].text == ".":
            i += 2
        else:
            return parts, i + 1
    raise syntax_error(tokens[i].text if i < len(tokens) else "TRIGGER")


def _unqualified(parts: list[str], written: str) -> str:
    if len(parts) > 2 or (len(parts) == 2 and parts[0].lower() != "dbo"):
        raise invalid_object(written)
    return parts[-1]


def compile_create(batch: str) -> TriggerDefinition:
    """Parse and check a CREATE TRIGGER batch; nothing is created yet."""
    tokens = tokenize(batch)
    name_parts, i = _name(tokens, 2)
    if i >= len(tokens) or tokens[i].text.upper() != "ON":
        raise syntax_error(tokens[i].text if i < len(tokens) else name_parts[-1])
    table_parts, i = _name(tokens, i + 1)
    words = []
    while i < len(tokens) and tokens[i].text.upper() != "AS":
        words.append(tokens[i].text.upper())
        i += 1
    if i >= len(tokens):
        raise syntax_error(tokens[-1].text)
    if words[:1] == ["INSTEAD"] or words[:1] == ["WITH"]:
        raise unsupported(f"{words[0]} ... triggers (only AFTER DELETE / FOR DELETE)")
    if words not in (["AFTER", "DELETE"], ["FOR", "DELETE"]):
        raise unsupported(f"triggers {' '.join(words)} (only AFTER DELETE / FOR DELETE)")
    body = batch[tokens[i].end :]
    name = _unqualified(name_parts, ".".join(name_parts))
    table = _unqualified(table_parts, ".".join(table_parts))
    return TriggerDefinition(name, table, [_compile_statement(n) for n in _statements(body)])


def _statements(body: str) -> list[Simple]:
    if not body.strip():
        raise syntax_error("AS")
    block = parse_batch(body)
    nodes = block.body
    if len(nodes) == 1 and isinstance(nodes[0], Block):
        nodes = nodes[0].body
    out = []
    for node in nodes:
        if not isinstance(node, Simple):
            raise unsupported(f"IF or nested BEGIN ... END in {CONTEXT}")
        out.append(node)
    return out


def _compile_statement(node: Simple) -> exp.Expression | None:
    words = node.text.upper().split()
    if words[:2] == ["SET", "NOCOUNT"] and words[2:] in (["ON"], ["OFF"]):
        return None  # a trigger's row counts never reach the client in the lab
    if words == ["SET", "ROWCOUNT", "0"]:
        return None  # no limit: the lab refuses SET ROWCOUNT elsewhere, so none is ever set
    if node.keyword not in ("INSERT", "DELETE"):
        raise unsupported(f"{node.keyword} in {CONTEXT} (INSERT, DELETE and SET NOCOUNT only)")
    tree = parse(node.text)
    check(tree)
    return tree


# -- creating: runs inside the session's statement transaction -------------------------------


def create(s: Session, definition: TriggerDefinition) -> None:
    table = catalog.table_name(s.db, definition.table)
    if table is None:
        raise invalid_object(definition.table)
    if catalog.object_exists(s.db, definition.name):
        raise object_exists(definition.name)
    columns = catalog.columns(s.db, table)
    deleted = [c.name for c in columns]
    _refuse_lob_columns(definition, columns)
    # `deleted` has the table's columns, collations included (its comparisons: collation.py)
    typer = Typer(s.db, {})
    typer.define("deleted", [(c.name, ColType(c.type, c.length, c.nullable, None, c.collation)) for c in columns])
    program = []
    for tree in definition.body:
        if tree is not None:
            program.extend(_statement(s, tree.copy(), deleted, typer))
    if not program:
        raise syntax_error("END")
    indexes = [i for tree in definition.body if tree is not None for i in lookups(tree)]
    firing.create(s.db, definition.name, table, program, deleted, indexes)
    catalog.record_object(s.db, definition.name)


LOB_IN_DELETED = SqlError(311, "Cannot use text, ntext, or image columns in the 'inserted' and 'deleted' tables.")


def _refuse_lob_columns(definition: TriggerDefinition, columns: list[CatalogColumn]) -> None:
    """An AFTER trigger may not read a text, ntext or image column of `deleted` (Msg 311, raised
    by CREATE TRIGGER); `SELECT * FROM deleted` reads them all."""
    lobs = {c.name.lower() for c in columns if catalog.is_lob(c)}
    if not lobs:
        return
    for tree in definition.body:
        if tree is None:
            continue
        for select in tree.find_all(exp.Select):
            sources = [t for t in select.find_all(exp.Table) if t.name.lower() == "deleted" and not t.text("db")]
            aliases = {t.alias_or_name.lower() for t in sources}
            if not aliases:
                continue
            only_deleted = len({t.alias_or_name.lower() for t in select.find_all(exp.Table)}) == len(aliases)
            for node in select.expressions:
                star = node.unalias()
                qualified = isinstance(star, exp.Column) and isinstance(star.this, exp.Star)
                if isinstance(star, exp.Star) or (qualified and star.table.lower() in aliases):
                    raise LOB_IN_DELETED
            for column in select.find_all(exp.Column):
                named = column.table.lower() in aliases or (not column.table and only_deleted)
                if named and column.name.lower() in lobs:
                    raise LOB_IN_DELETED


def lookups(tree: exp.Expression) -> list[list[str]]:
    """The columns of `deleted` each subquery over it matches by `=` to another table's column:
    firing.py indexes them, so each lookup is a search, not a scan of every deleted row."""
    out = []
    for select in tree.find_all(exp.Select):
        source = select.args.get("from_")
        where = select.args.get("where")
        if source is None or where is None or not isinstance(source.this, exp.Table):
            continue
        if source.this.name.lower() != "deleted" or source.this.text("db"):
            continue
        alias = source.this.alias_or_name.lower()
        columns = []
        for cond in native.conjuncts(where.this):
            if not isinstance(cond, exp.EQ):
                continue
            sides = [cond.this, cond.expression]
            if not all(isinstance(side, exp.Column) for side in sides):
                continue
            mine = [side for side in sides if side.table.lower() == alias]
            if len(mine) == 1 and mine[0].name not in columns:
                columns.append(mine[0].name)
        if columns:
            out.append(columns)
    return out


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _resolver(s: Session):
    def resolve(node: exp.Table) -> str:
        # Deferred name resolution, as SQL Server: a missing table fails when the trigger runs.
        return s.translator.table(node, must_exist=False)

    return resolve


def _statement(s: Session, tree: exp.Expression, deleted: list[str], typer: Typer) -> list[tuple[str, str | None]]:
    """The statement as native SQL, with the table it deletes from (its triggers fire next)."""
    if isinstance(tree, exp.Delete):
        target = _resolver(s)(tree.this)
        sql = [(_delete(s, tree, deleted, typer), target)]
    elif isinstance(tree, exp.Insert):
        sql = [(statement, None) for statement in _insert(s, tree, deleted, typer)]
    else:
        raise unsupported(f"{type(tree).__name__.upper()} in {CONTEXT}")
    for statement, _ in sql:
        _validate(s, statement, deleted)
    return sql


def _validate(s: Session, sql: str, deleted: list[str]) -> None:
    """Columns of existing tables are checked now, as SQL Server compiles the body (207)."""
    probe = sql.replace("RAISE(ABORT", "coalesce(NULL")
    s.db.execute(f"CREATE TEMP TABLE {_q(firing.DELETED)} ({', '.join(_q(c) for c in deleted)})")
    try:
        s.db.execute(f"EXPLAIN {probe}")
    except sqlite3.Error as error:  # only a missing column is the body's fault now
        message = str(error)
        if message.startswith("no such column"):
            raise invalid_column(message.split(":", 1)[1].strip().split(".")[-1]) from None
    finally:
        s.db.execute(f"DROP TABLE temp.{_q(firing.DELETED)}")


def _delete(s: Session, tree: exp.Delete, deleted: list[str], typer: Typer) -> str:
    targets = tree.args.get("tables")
    alias = tree.this.alias_or_name
    if targets and (len(targets) != 1 or targets[0].name.lower() not in (alias.lower(), tree.this.name.lower())):
        raise unsupported(f"DELETE with a join in {CONTEXT}")
    if tree.args.get("using") or tree.args.get("joins"):
        raise unsupported(f"DELETE with a join in {CONTEXT}")
    tree.set("tables", None)
    table = _resolver(s)(tree.this)
    others = [t for t in tree.find_all(exp.Table) if t is not tree.this and t.name.lower() == table.lower()]
    if others:
        raise unsupported(f"DELETE that names its table again in {CONTEXT}")
    # SQLite takes no alias on the target of a trigger's DELETE: the alias becomes the name.
    for column in tree.find_all(exp.Column):
        if column.table and column.table.lower() == alias.lower():
            column.set("table", exp.to_identifier(table, quoted=True))
    tree.this.set("alias", None)
    compared = check_collations(s.db, tree, typer)
    native.rewrite(tree, _resolver(s), CONTEXT, deleted)
    apply_collations(compared)
    return sqlite_sql(tree)


def _insert(s: Session, tree: exp.Insert, deleted: list[str], typer: Typer) -> list[str]:
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    table = catalog.table_name(s.db, target.name)
    if table is None or (target.text("db") or "dbo").lower() != "dbo":
        raise unsupported(f"INSERT into a table that does not exist yet ({target.name}) in {CONTEXT}")
    cols = catalog.columns(s.db, table)
    by_name = {c.name.lower(): c for c in cols}
    listed = [i.name for i in tree.this.expressions] if isinstance(tree.this, exp.Schema) else None
    source = tree.expression
    if not isinstance(source, exp.Select | exp.SetOperation):
        raise unsupported(f"INSERT ... VALUES in {CONTEXT} (use INSERT ... SELECT)")
    first = source
    while isinstance(first, exp.SetOperation):
        first = first.this
    _expand_star(first, deleted)
    width = len(first.expressions)
    from tests.lab.tsql.statements import insert_targets  # statements imports the session's helpers

    targets = insert_targets(table, cols, by_name, listed, width, source)
    first.set(
        "expressions", [exp.alias_(p.unalias(), f"lab_c{n}", quoted=True) for n, p in enumerate(first.expressions)]
    )
    compared = check_collations(s.db, source, typer)
    native.rewrite(source, _resolver(s), CONTEXT, deleted)
    apply_collations(compared)
    values = [_stored(f"`lab_src`.`lab_c{n}`", c, table) for n, c in enumerate(targets)]
    names = [c.name for c in targets]
    identity = next((c for c in cols if c.identity), None)
    checks = []
    if identity is not None and identity in targets:
        # IDENTITY_INSERT is never ON inside the lab's triggers: SQL Server's 544 when it runs.
        checks.append(
            "SELECT "
            + native.raise_sql(
                544,
                f"Cannot insert explicit value for identity column in table '{table}' when IDENTITY_INSERT "
                "is set to OFF.",
            )
        )
    elif identity is not None:
        step = identity.increment or 1
        start = (identity.seed or 1) - step
        values.append(
            f"COALESCE((SELECT MAX({_q(identity.name)}) FROM {_q(table)}), {start}) + {step} * (ROW_NUMBER() OVER ())"
        )
        names.append(identity.name)
    insert = (
        f"INSERT INTO {_q(table)} ({', '.join(_q(n) for n in names)}) SELECT {', '.join(values)} "
        f"FROM ({sqlite_sql(source)}) AS `lab_src`"
    )
    return [*checks, insert]


def _expand_star(select: exp.Select, deleted: list[str]) -> None:
    """`SELECT * FROM deleted` names the columns; any other `*` is refused."""

    def star(p: exp.Expression) -> bool:  # `*` or `t.*`, not COUNT(*)
        p = p.unalias()
        return isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))

    if not any(star(p) for p in select.expressions):
        return
    source = select.args.get("from_")
    only = source.this if source is not None and not select.args.get("joins") else None
    if len(select.expressions) != 1 or not (isinstance(only, exp.Table) and only.name.lower() == "deleted"):
        raise unsupported(f"SELECT * in an INSERT in {CONTEXT}, other than SELECT * FROM deleted")
    alias = only.alias_or_name
    select.set("expressions", [exp.column(c, table=alias, quoted=True) for c in deleted])


def _stored(value: str, col: CatalogColumn, table: str) -> str:
    """The value as the column stores it (lab_store's checks, natively)."""
    if col.type == "datetime":
        text = f"strftime('%Y-%m-%d %H:%M:%f', {value})"
        error = native.raise_sql(241, "Conversion failed when converting date and/or time from character string.")
        return f"CASE WHEN {value} IS NULL THEN NULL WHEN {text} IS NULL THEN {error} ELSE {text} END"
    if col.type in ("char", "varchar", "nchar", "nvarchar") and col.length is not None:
        error = native.raise_sql(8152, "String or binary data would be truncated.")
        return f"CASE WHEN length({value}) > {col.length} THEN {error} ELSE {value} END"
    return value


# -- dropping ---------------------------------------------------------------------------------


def drop(s: Session, tree: exp.Drop) -> None:
    for node in tree.args.get("tables") or [tree.this]:
        stored = catalog.trigger_name(s.db, node.name) if (node.text("db") or "dbo").lower() == "dbo" else None
        if stored is None:
            raise SqlError(
                3701,
                f"Cannot drop the trigger '{node.name}', because it does not exist or you do not have permission.",
                severity=11,
            )
        if firing.registered(s.db, stored):
            firing.drop(s.db, stored)
        else:  # a native trigger of the DS schema (ds_schema.INSERT_TRIGGER)
            s.run(f"DROP TRIGGER {_q(stored)}")
        catalog.forget_object(s.db, stored)
