"""The data statements of the subset: queries, INSERT (with IDENTITY), UPDATE, DELETE and DDL.

Each function takes the session (its connection, translator and options) and a checked
sqlglot tree, and returns the rows it read or the number of rows it changed.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from tests.lab.tsql import catalog, collation, constraints, firing, keys, native
from tests.lab.tsql.catalog import CatalogColumn
from tests.lab.tsql.errors import SqlError, from_sqlite_not_null, invalid_column, object_exists, unsupported
from tests.lab.tsql.infer import ColType, type_name
from tests.lab.tsql.results import (
    INTEGER_TYPES,
    STRING_TYPES,
    TEXT_TYPES,
    Column,
    ResultSet,
    result_type,
    to_python,
    type_of_values,
)
from tests.lab.tsql.translate import sqlite_sql

if TYPE_CHECKING:
    from tests.lab.tsql.session import Session


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


# -- queries ----------------------------------------------------------------------------------


def query(s: Session, tree: exp.Expression) -> ResultSet:
    translated, info = s.translator.rewrite(tree.copy())
    cursor = s.run(sqlite_sql(translated), info["params"])
    names = [d[0] for d in cursor.description or []]
    rows = cursor.fetchall()
    projections = info["typer"].projections(translated)
    if len(projections) != len(names):
        projections = [(n, ColType(None)) for n in names]
    columns, types = [], []
    for i, (name, kind) in enumerate(projections):
        type_ = kind.type or type_of_values([r[i] for r in rows])
        types.append(type_)
        size = kind.size if type_ in ("char", "varchar", "nchar", "nvarchar", "varbinary") else None
        size = 8 if type_ == "timestamp" else size
        columns.append(Column(name, result_type(type_), kind.nullable, size))
    converted = [tuple(to_python(v, t) for v, t in zip(row, types, strict=True)) for row in rows]
    s.rowcount = len(converted)
    return ResultSet(columns, converted)


def assign(s: Session, tree: exp.Select, targets: list[str]) -> None:
    """SELECT @a = expr, @b = expr FROM ...: the last row's values, nothing when no row."""
    result = query(s, tree)
    if result.rows:
        for name, value in zip(targets, result.rows[-1], strict=True):
            s.set_variable(name, value)


def assignments(tree: exp.Expression) -> list[tuple[str, exp.Expression]]:
    """`SELECT @v = expr` projections as (variable, expression); [] for a plain query."""
    if not isinstance(tree, exp.Select):
        return []
    pairs = [
        (p.this.name.lower(), p.expression)
        for p in tree.expressions
        if isinstance(p, exp.EQ) and isinstance(p.this, exp.Parameter) and not isinstance(p.this.this, exp.Parameter)
    ]
    if pairs and len(pairs) != len(tree.expressions):
        raise SqlError(
            141,
            "A SELECT statement that assigns a value to a variable must not be combined with "
            "data-retrieval operations.",
            severity=15,
        )
    return pairs


# -- INSERT -----------------------------------------------------------------------------------


def insert(s: Session, tree: exp.Insert) -> int:
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    table = _user_table(s, target)
    cols = catalog.columns(s.db, table)
    by_name = {c.name.lower(): c for c in cols}
    listed = [i.name for i in tree.this.expressions] if isinstance(tree.this, exp.Schema) else None
    identity = next((c for c in cols if c.identity), None)
    identity_on = (s.identity_insert or "").lower() == table.lower()
    source = tree.expression
    if source is None:
        raise unsupported("INSERT ... DEFAULT VALUES / EXEC")
    translated, info = s.translator.rewrite(source.copy())
    source_sql = sqlite_sql(translated)
    if isinstance(source, exp.Values):
        widths = {len(row.expressions) for row in source.expressions}
        if len(widths) != 1:
            raise SqlError(10709, "The number of columns for each row in a table value constructor must be the same.")
        width = widths.pop()
    else:
        width = len(s.run(f"SELECT * FROM ({source_sql}) LIMIT 0", info["params"]).description)
    targets = insert_targets(table, cols, by_name, listed, width, source)
    _check_identity(table, identity, targets, identity_on)
    src = [f"c{i}" for i in range(width)]
    kinds = _source_types(info["typer"], translated, width)
    stored_as_is = s.dateformat in ("mdy", "ymd", "myd")  # year first: read y-m-d, as stored
    select = [_stored(src[i], c, table, kinds[i], stored_as_is) for i, c in enumerate(targets)]
    names = [c.name for c in targets]
    if identity is not None and identity not in targets:
        top = s.run(f"SELECT MAX({_q(identity.name)}) FROM {_q(table)}").fetchone()[0]
        step = identity.increment or 1
        first = (identity.seed or 1) if top is None else int(top) + step
        select.append(f"{first} + {step} * (ROW_NUMBER() OVER () - 1)")
        names.append(identity.name)
    with_src = f"WITH lab_src({', '.join(src)}) AS ({source_sql}) "
    sql = (
        f"{with_src}INSERT INTO {_q(table)} ({', '.join(_q(n) for n in names)}) SELECT {', '.join(select)} FROM lab_src"
    )
    try:
        return s.run_count(sql, info["params"])
    except DuplicateKey as error:
        raise _duplicate_key(s, error, targets, select, with_src, info["params"]) from None


# A datetime already in the lab's storage form (results.format_datetime).
_STORED_DATETIME = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]"


def _source_types(typer: Any, source: exp.Expression, width: int) -> list[str | None]:
    """The T-SQL type of each value an INSERT's source gives (None where unknown)."""
    if isinstance(source, exp.Values):
        rows = source.expressions
        kinds = [{typer.expr(row.expressions[i]).type for row in rows} for i in range(width)]
        return [k.pop() if len(k) == 1 else None for k in kinds]
    projections = typer.projections(source)
    if len(projections) != width:
        return [None] * width
    return [kind.type for _, kind in projections]


def _stored(value: str, c: CatalogColumn, table: str, source: str | None = None, stored_as_is: bool = True) -> str:
    """The value an INSERT stores: lab_store's (functions.store), whose checks and conversions
    are T-SQL's. Where SQLite itself can tell that lab_store would return the value unchanged
    (an integer into an integer column, a text that fits a string column, a valid datetime
    already in the lab's text form, NULL into a nullable column), it skips the Python call:
    a million-row INSERT ... SELECT then costs no million calls per column."""
    call = (
        f"lab_store({value}, {_literal(c.type)}, {_literal(c.length)}, {int(c.nullable)}, "
        f"{_literal(c.name)}, {_literal(table)}, 'INSERT', {_literal(source)})"
    )
    if c.type in INTEGER_TYPES:
        unchanged = f"typeof({value}) = 'integer'"
    elif c.type in TEXT_TYPES:
        unchanged = f"typeof({value}) = 'text'"
    elif c.type in STRING_TYPES:
        fits = f" AND length({value}) <= {c.length}" if c.length is not None else ""
        unchanged = f"typeof({value}) = 'text'{fits}"
    elif c.type == "datetime" and (source == "datetime" or stored_as_is):
        unchanged = (
            f"typeof({value}) = 'text' AND {value} GLOB '{_STORED_DATETIME}' AND substr({value}, 1, 4) <> '0000' "
            f"AND strftime('%Y-%m-%d %H:%M:%f', {value}) = {value}"
        )
    else:
        return call
    if c.nullable:
        unchanged = f"{value} IS NULL OR {unchanged}"
    return f"CASE WHEN {unchanged} THEN {value} ELSE {call} END"


def _user_table(s: Session, node: exp.Table) -> str:
    table = s.translator.table(node)
    if table in catalog.VIEWS:
        raise unsupported(f"changing a catalog view ({node.sql(dialect='tsql')})")
    return table


def insert_targets(
    table: str,
    cols: list[CatalogColumn],
    by_name: dict[str, CatalogColumn],
    listed: list[str] | None,
    width: int,
    source: exp.Expression,
) -> list[CatalogColumn]:
    """The columns an INSERT writes, in the order of its values; SQL Server's errors for a wrong list."""
    values = isinstance(source, exp.Values)
    identity = next((c for c in cols if c.identity), None)
    if listed is None:
        if identity is not None and width == len(cols):
            raise SqlError(
                8101,
                f"An explicit value for the identity column in table '{table}' can only be specified when a "
                "column list is used and IDENTITY_INSERT is ON.",
            )
        targets = [c for c in cols if not c.identity and not c.computed]
        if width != len(targets):
            raise SqlError(213, "Column name or number of supplied values does not match table definition.")
    else:
        seen: set[str] = set()
        for name in listed:
            if name.lower() not in by_name:
                raise invalid_column(name)
            if name.lower() in seen:
                raise SqlError(
                    264,
                    f"The column name '{name}' is specified more than once in the SET clause or column list of an "
                    "INSERT. A column cannot be assigned more than one value in the same clause.",
                )
            seen.add(name.lower())
        targets = [by_name[n.lower()] for n in listed]
        if width < len(targets):
            raise (
                SqlError(109, "There are more columns in the INSERT statement than values specified in the VALUES "
                         "clause. The number of values in the VALUES clause must match the number of columns "
                         "specified in the INSERT statement.")
                if values else SqlError(120, "The select list for the INSERT statement contains fewer items than "
                                        "the insert list. The number of SELECT values must match the number of "
                                        "INSERT columns.")
            )  # fmt: skip
        if width > len(targets):
            raise (
                SqlError(110, "There are fewer columns in the INSERT statement than values specified in the VALUES "
                         "clause. The number of values in the VALUES clause must match the number of columns "
                         "specified in the INSERT statement.")
                if values else SqlError(121, "The select list for the INSERT statement contains more items than "
                                        "the insert list. The number of SELECT values must match the number of "
                                        "INSERT columns.")
            )  # fmt: skip
    for col in targets:
        if col.computed:
            raise SqlError(271, f'The column "{col.name}" cannot be modified because it is either a computed column '
                           "or is the result of a UNION operator.")  # fmt: skip
        if col.type == "timestamp":
            raise SqlError(
                273,
                "Cannot insert an explicit value into a timestamp column. Use INSERT with a column list to exclude "
                "the timestamp column, or insert a DEFAULT into the timestamp column.",
            )
    return targets


def _check_identity(
    table: str, identity: CatalogColumn | None, targets: list[CatalogColumn], identity_on: bool
) -> None:
    if identity is not None and identity in targets and not identity_on:
        raise SqlError(
            544,
            f"Cannot insert explicit value for identity column in table '{table}' when IDENTITY_INSERT is set to OFF.",
        )
    if identity is not None and identity not in targets and identity_on:
        raise SqlError(
            545,
            f"Explicit value must be specified for identity column in table '{table}' either when "
            "IDENTITY_INSERT is set to ON or when a replication user is inserting into a NOT FOR REPLICATION "
            "identity column.",
        )


class DuplicateKey(SqlError):
    """2627 (primary key) or 2601 (unique index); `columns`: the key, to name the duplicate value."""

    def __init__(self, number: int, message: str, table: str, columns: list[str]) -> None:
        super().__init__(number, message, severity=14)
        self.table = table
        self.columns = columns


def _duplicate_key(s, error: DuplicateKey, targets, select, with_src, params) -> SqlError:
    """SQL Server names the first duplicate key value; find it (the failed INSERT changed nothing)."""
    names = [c.name.lower() for c in targets]
    positions = [names.index(c.lower()) if c.lower() in names else None for c in error.columns]
    value = ""
    if error.columns and None not in positions:
        exprs = ", ".join(select[p] for p in positions if p is not None)
        seen: set[tuple] = set()
        where = " AND ".join(f"{_q(c)} IS ?" for c in error.columns)
        for row in s.run(f"{with_src}SELECT {exprs} FROM lab_src", params).fetchall():
            exists = s.run(f"SELECT 1 FROM {_q(error.table)} WHERE {where}", row).fetchone()
            if exists or row in seen:
                value = (
                    " The duplicate key value is (" + ", ".join("<NULL>" if v is None else str(v) for v in row) + ")."
                )
                break
            seen.add(row)
    return SqlError(error.number, error.message + value, severity=14)


# -- UPDATE, DELETE, TRUNCATE -----------------------------------------------------------------


def update(s: Session, tree: exp.Update) -> int:
    table = _user_table(s, tree.this)
    cols = {c.name.lower(): c for c in catalog.columns(s.db, table)}
    source = tree.args.get("from_")
    if source is not None or tree.args.get("joins"):
        names = {t.name.lower() for t in (source or tree).find_all(exp.Table)} | {
            t.alias_or_name.lower() for t in (source or tree).find_all(exp.Table)
        }
        if tree.this.name.lower() in names or tree.this.alias_or_name.lower() in names:
            raise unsupported("UPDATE ... FROM that names the target table again (use a subquery)")
    tree = tree.copy()
    for assignment in tree.expressions:
        column = assignment.this
        if not isinstance(assignment, exp.EQ) or not isinstance(column, exp.Column):
            raise unsupported("UPDATE ... SET of a variable")
        col = cols.get(column.name.lower())
        if col is None:
            raise invalid_column(column.name)
        if col.identity:
            raise SqlError(8102, f"Cannot update identity column '{col.name}'.")
        if col.computed:
            raise SqlError(271, f'The column "{col.name}" cannot be modified because it is either a computed column '
                           "or is the result of a UNION operator.")  # fmt: skip
        if col.type == "timestamp":
            raise SqlError(272, "Cannot update a timestamp column.")
        value = assignment.expression
        assignment.set(
            "expression",
            exp.Anonymous(
                this="lab_store",
                expressions=[value, exp.Literal.string(col.type), _num(col.length), _num(int(col.nullable)),
                             exp.Literal.string(col.name), exp.Literal.string(table), exp.Literal.string("UPDATE"),
                             _literal_type(value)],
            ),
        )  # fmt: skip
        column.set("table", None)
    translated, info = s.translator.rewrite(tree)
    return s.run_count(sqlite_sql(translated), info["params"])


def _literal_type(value: exp.Expression) -> exp.Expression:
    """The type of a string written as a literal (N'...' nvarchar); NULL (unknown) otherwise."""
    if isinstance(value, exp.National):
        return exp.Literal.string("nvarchar")
    if isinstance(value, exp.Literal) and value.is_string:
        return exp.Literal.string("varchar")
    return exp.null()


def _num(value: int | None) -> exp.Expression:
    return exp.null() if value is None else exp.Literal.number(value)


def delete(s: Session, tree: exp.Delete) -> int:
    tree = tree.copy()
    targets = tree.args.get("tables")
    if targets:
        # DELETE alias FROM table AS alias WHERE ...: SQLite takes the alias on the table itself
        if len(targets) != 1 or targets[0].name.lower() not in (
            tree.this.alias_or_name.lower(),
            tree.this.name.lower(),
        ):
            raise unsupported("DELETE with a join")
        tree.set("tables", None)
    if tree.args.get("using") or tree.args.get("joins"):
        raise unsupported("DELETE with a join")
    table = _user_table(s, tree.this)
    translated, info = s.translator.rewrite(tree)
    # its AFTER DELETE triggers fire once, when the statement is done (firing.py)
    return firing.run_delete(s.db, table, sqlite_sql(translated), info["params"], execute=s.run)


def truncate(s: Session, tree: exp.TruncateTable) -> None:
    """TRUNCATE TABLE deletes every row and fires no DELETE trigger (TRUNCATE TABLE docs: "does
    not fire DELETE triggers"); a table a FOREIGN KEY references cannot be truncated (Msg 4712)."""
    for node in tree.expressions:
        table = _user_table(s, node)
        if keys.referenced_by(s.db, table):
            raise SqlError(
                4712, f"Cannot truncate table '{table}' because it is being referenced by a FOREIGN KEY constraint."
            )
        firing.run_truncate(s.db, table, execute=s.run)


# -- DDL --------------------------------------------------------------------------------------


def column_def(item: exp.ColumnDef, db: sqlite3.Connection) -> CatalogColumn:
    kind = item.args.get("kind")
    if kind is None:
        raise SqlError(173, f"The definition for column '{item.name}' must include a data type.")
    type_, length = type_name(kind)
    if type_ is None:
        raise unsupported(f"column type {kind.sql(dialect='tsql')}")
    col = CatalogColumn(item.name, type_, length, nullable=type_ != "timestamp")
    for constraint in item.constraints:
        c = constraint.kind
        if isinstance(c, exp.NotNullColumnConstraint):
            col.nullable = bool(c.args.get("allow_null"))
        elif isinstance(c, exp.PrimaryKeyColumnConstraint):
            col.pk = 1
        elif isinstance(c, exp.GeneratedAsIdentityColumnConstraint):
            if type_ not in ("int", "bigint", "smallint", "tinyint", "decimal"):
                raise SqlError(2749, f"Identity column '{item.name}' must be of data type int, bigint, smallint, "
                               "tinyint, or decimal or numeric with a scale of 0, and constrained to be "
                               "nonnullable.")  # fmt: skip
            col.identity, col.nullable = True, False
            col.seed = int(c.args["start"].sql()) if c.args.get("start") else 1
            col.increment = int(c.args["increment"].sql()) if c.args.get("increment") else 1
        elif isinstance(c, exp.DefaultColumnConstraint) and isinstance(c.this, exp.Literal | exp.Null | exp.Neg):
            col.default = c.this.sql(dialect="sqlite")
        elif isinstance(c, exp.CollateColumnConstraint):
            col.collation = _collate(db, type_, c.this)
        else:
            raise unsupported(f"column constraint {constraint.sql(dialect='tsql')}")
    return col


def _collate(db: sqlite3.Connection, kind: str, name: exp.Expression) -> str:
    """`COLLATE name` of a column: a collation the lab knows, on character data only (Msg 447)."""
    if not collation.is_character(kind):
        raise collation.invalid_for(kind)
    return collation.resolve(db, name.name)


def create_table(s: Session, tree: exp.Create) -> None:
    name_node = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    if not isinstance(tree.this, exp.Schema):
        raise unsupported("CREATE TABLE without columns")
    table = s.translator.table(name_node, must_exist=False)
    if catalog.object_exists(s.db, table):
        raise object_exists(table)
    cols: list[CatalogColumn] = []
    pk: list[str] = []
    computed, foreign = [], []
    for item in tree.this.expressions:
        if isinstance(item, exp.ColumnDef) and constraints.is_computed(item):
            computed.append((len(cols), item))
            cols.append(CatalogColumn(item.name, "int"))  # placeholder until the other columns are known
        elif isinstance(item, exp.ColumnDef):
            cols.append(column_def(item, s.db))
            if cols[-1].pk:
                pk.append(cols[-1].name)
        elif isinstance(item, exp.PrimaryKey) or (isinstance(item, exp.Constraint) and item.find(exp.PrimaryKey)):
            key = item if isinstance(item, exp.PrimaryKey) else item.find(exp.PrimaryKey)
            pk.extend(e.name for e in key.expressions)
        elif isinstance(item, exp.ForeignKey) or (isinstance(item, exp.Constraint) and item.find(exp.ForeignKey)):
            foreign.append(item)
        else:
            raise unsupported(f"table element {item.sql(dialect='tsql')}")
    plain = [c for n, c in enumerate(cols) if n not in {i for i, _ in computed}]
    for n, item in computed:
        cols[n] = constraints.computed_column(s, table, item, plain)
    clauses = [constraints.foreign_key(s, table, item, cols) for item in foreign]
    _check_columns(table, cols)
    if (
        len(set(p.lower() for p in pk)) != len(pk)
        or sum(1 for i in tree.this.expressions if i.find(exp.PrimaryKey)) > 1
    ):
        raise SqlError(8110, f"Cannot add multiple PRIMARY KEY constraints to table '{table}'.")
    by_name = {c.name.lower(): c for c in cols}
    for position, name in enumerate(pk, start=1):
        if name.lower() not in by_name:
            raise SqlError(1911, f"Column name '{name}' does not exist in the target table or view.")
        by_name[name.lower()].pk, by_name[name.lower()].nullable = position, False
    catalog.create_table(s.db, table, cols, [clause for clause, _ in clauses])
    constraints.record_foreign_keys(s, table, [(item, name) for item, (_, name) in zip(foreign, clauses, strict=True)])


def _check_columns(table: str, cols: list[CatalogColumn]) -> None:
    seen: set[str] = set()
    for col in cols:
        if col.name.lower() in seen:
            raise SqlError(2705, f"Column names in each table must be unique. Column name '{col.name}' in table "
                           f"'{table}' is specified more than once.")  # fmt: skip
        seen.add(col.name.lower())
    if sum(c.type == "timestamp" for c in cols) > 1:
        second = [c for c in cols if c.type == "timestamp"][-1].name
        raise SqlError(
            2738,
            f"A table can only have one timestamp column. Because table '{table}' already has one, the column "
            f"'{second}' cannot be added.",
        )
    if sum(c.identity for c in cols) > 1:
        raise SqlError(2744, f"Multiple identity columns specified for table '{table}'. Only one identity column "
                       "per table is allowed.")  # fmt: skip


def drop_table(s: Session, tree: exp.Drop) -> None:
    for node in tree.args.get("tables") or [tree.this]:
        name = node.name
        table = catalog.table_name(s.db, name) if (node.text("db") or "dbo").lower() == "dbo" else None
        if table is None:
            raise SqlError(
                3701,
                f"Cannot drop the table '{name}', because it does not exist or you do not have permission.",
                severity=11,
            )
        referencing = keys.referenced_by(s.db, table)
        if referencing:
            raise SqlError(3726, f"Could not drop object '{table}' because it is referenced by a FOREIGN KEY "
                           f"constraint.")  # fmt: skip
        if (s.identity_insert or "").lower() == table.lower():
            s.identity_insert = None
        catalog.drop_table(s.db, table)


def alter_table(s: Session, tree: exp.Alter) -> None:
    table = _user_table(s, tree.this)
    for action in tree.args.get("actions") or []:
        if isinstance(action, exp.AlterColumn):
            _alter_column(s, table, action)
            continue
        if not isinstance(action, exp.ColumnDef):
            raise unsupported("ALTER TABLE other than ADD column and ALTER COLUMN")
        col = column_def(action, s.db)
        if col.identity or col.pk or col.type == "timestamp":
            raise unsupported("ALTER TABLE ADD of an IDENTITY, PRIMARY KEY or timestamp column")
        if not col.nullable and col.default is None:
            raise unsupported("ALTER TABLE ADD of a NOT NULL column without a default")
        _check_columns(table, [*catalog.columns(s.db, table), col])
        catalog.add_column(s.db, table, col)


# Type families ALTER COLUMN may move within (the lab keeps the stored values as they are).
_ALTERABLE = (("char", "varchar", "nchar", "nvarchar"), INTEGER_TYPES)


def _alter_column(s: Session, table: str, action: exp.AlterColumn) -> None:
    """ALTER TABLE t ALTER COLUMN c type [NULL | NOT NULL] (SQL Server docs, "ALTER TABLE"):
    a string made longer or shorter, an integer type made wider. Values that no longer fit:
    Msg 8152; a column of the primary key or an index: Msg 5074 (with 4922, as SQL Server)."""
    cols = catalog.columns(s.db, table)
    name = action.this.name
    col = next((c for c in cols if c.name.lower() == name.lower()), None)
    if col is None:
        raise SqlError(4924, f"ALTER TABLE ALTER COLUMN failed because column '{name}' does not exist in table "
                       f"'{table}'.")  # fmt: skip
    kind, length = type_name(action.args["dtype"])
    family = next((f for f in _ALTERABLE if col.type in f), None)
    if kind is None or family is None or kind not in family or col.identity:
        raise unsupported(f"ALTER COLUMN {name} from {col.type} to {action.args['dtype'].sql(dialect='tsql')}")
    if family == INTEGER_TYPES and INTEGER_TYPES.index(kind) < INTEGER_TYPES.index(col.type):
        raise unsupported(f"ALTER COLUMN {name} to a narrower integer type")
    index = f"PK_{table}" if col.pk else keys.index_on_column(s.db, table, col.name)
    if index:
        raise SqlError(5074, f"The index '{index}' is dependent on column '{col.name}'.")
    nullable = action.args.get("allow_null") is not False
    if nullable != col.nullable:
        raise unsupported(f"ALTER COLUMN {name} changing NULL / NOT NULL")
    if length is not None and family != INTEGER_TYPES:
        too_long = s.run(f"SELECT 1 FROM {_q(table)} WHERE length({_q(col.name)}) > ? LIMIT 1", (length,))
        if too_long.fetchone():
            raise SqlError(8152, "String or binary data would be truncated.")
    # without COLLATE a character column takes the database's default ("ALTER TABLE": "If not
    # specified, the column is assigned the default collation of the database")
    collate = action.args.get("collate")
    recollated = _collate(s.db, kind, collate) if isinstance(collate, exp.Expression) else None
    if collation.is_character(kind):
        recollated = recollated or collation.database_default(s.db)
    col.type, col.length, col.collation = kind, length if family != INTEGER_TYPES else None, recollated
    catalog.record_columns(s.db, table, cols)


def select_into(s: Session, tree: exp.Select) -> int:
    """SELECT ... INTO new_table: the table gets the columns' types and, as SQL Server does, the
    IDENTITY property of an identity column selected plainly from a single table."""
    into = tree.args["into"].this
    target = s.translator.table(into, must_exist=False)
    if catalog.object_exists(s.db, target):
        raise object_exists(target)
    select = tree.copy()
    select.set("into", None)
    translated, info = s.translator.rewrite(select)
    projections = info["typer"].projections(translated)
    single = (
        len(translated.args.get("joins") or []) == 0
        and not translated.args.get("group")
        and not any(isinstance(p.unalias(), exp.AggFunc) for p in translated.expressions)
    )
    identities = [k for _, k in projections if k.identity is not None]
    cols = []
    for name, kind in projections:
        if not name:
            raise SqlError(1038, "An object or column name is missing or empty. For SELECT INTO statements, verify "
                           "each column has a name. For other statements, look for empty alias names.",
                           severity=15)  # fmt: skip
        if kind.type is None:
            raise unsupported(f"SELECT INTO a column whose type the lab cannot infer ({name})")
        copy_identity = kind.identity is not None and single and len(identities) == 1
        source = kind.identity
        cols.append(
            CatalogColumn(
                name, kind.type, kind.size, kind.nullable and not copy_identity, copy_identity,
                source.seed if copy_identity and source else None,
                source.increment if copy_identity and source else None,
                collation=kind.collation,  # each column's collation, as SQL Server copies it
            )
        )  # fmt: skip
    _check_columns(target, cols)
    catalog.create_table(s.db, target, cols, stamp=False)
    names = ", ".join(_q(c.name) for c in cols)
    count = s.run_count(f"INSERT INTO {_q(target)} ({names}) {sqlite_sql(translated)}", info["params"])
    catalog.stamp_rowversions(s.db, target)  # a copied timestamp keeps its values, as in SQL Server
    return count


def integrity_error(error: sqlite3.IntegrityError, db: sqlite3.Connection, sql: str = "") -> SqlError:
    message = str(error)
    raised = native.raised_error(message)  # a trigger's statement failed as SQL Server's would
    if raised is not None:
        return raised
    if message.startswith(("UNIQUE constraint failed", "PRIMARY KEY")):
        return _unique_error(message.split(":", 1)[1].strip() if ":" in message else "", db)
    not_null = from_sqlite_not_null(message, "UPDATE" if re.match(r"(?is)\s*UPDATE\b", sql) else "INSERT")
    if not_null is not None:
        return not_null
    return unsupported(f"constraint failure {message!r}")


def _unique_error(detail: str, db: sqlite3.Connection) -> DuplicateKey:
    """SQLite's 't.a, t.b' (or "index 'ix'" for an index on expressions) as 2627 or 2601."""
    index = detail[len("index ") :].strip("'") if detail.startswith("index ") else None
    if index is not None:
        table, index = keys.index_name(db, index) or ("?", index)
        columns = keys.index_columns(db, index)
    else:
        parts = [p.strip() for p in detail.split(",")]
        table = parts[0].split(".")[0] if parts else "?"
        columns = [p.split(".", 1)[-1] for p in parts]
        pk = [c.name for c in sorted((c for c in catalog.columns(db, table) if c.pk), key=lambda c: c.pk or 0)]
        if [c.lower() for c in pk] != [c.lower() for c in columns]:
            index = keys.unique_index_on(db, table, columns)
    if index is not None:
        return DuplicateKey(2601, f"Cannot insert duplicate key row in object 'dbo.{table}' with unique index "
                            f"'{index}'.", table, columns)  # fmt: skip
    return DuplicateKey(2627, f"Violation of PRIMARY KEY constraint 'PK_{table}'. Cannot insert duplicate key in "
                        f"object 'dbo.{table}'.", table, columns)  # fmt: skip


def foreign_key_error(s: Session, sql: str, params: dict | tuple) -> SqlError:
    """SQLite says only "FOREIGN KEY constraint failed": run the statement again with the checks
    deferred, ask SQLite which rows break which key, undo it, and word it as SQL Server (547)."""
    verb = min(("INSERT", "UPDATE", "DELETE"), key=lambda v: sql.upper().find(v + " ") % 10**9)
    s.db.execute("SAVEPOINT lab_fk")
    try:
        before = set(s.db.execute("PRAGMA foreign_key_check").fetchall())
        s.db.execute("PRAGMA defer_foreign_keys = ON")
        s.db.execute(sql, params)
        broken = [v for v in s.db.execute("PRAGMA foreign_key_check").fetchall() if v not in before]
    finally:
        s.db.execute("ROLLBACK TO lab_fk")
        s.db.execute("RELEASE lab_fk")
        s.db.execute("PRAGMA defer_foreign_keys = OFF")
    if not broken:
        return SqlError(547, f"The {verb} statement conflicted with a FOREIGN KEY constraint.")
    child, _, parent, fk_id = broken[0]
    fk = next(r for r in s.db.execute(f"PRAGMA foreign_key_list({_q(child)})") if r[0] == fk_id)
    name = keys.foreign_key_name(s.db, child, parent, fk[3])
    if verb == "DELETE" or (verb == "UPDATE" and re.match(rf"(?is)^\s*UPDATE\s+`?{re.escape(parent)}`?\s", sql)):
        return SqlError(547, f'The {verb} statement conflicted with the REFERENCE constraint "{name}". The conflict '
                        f"occurred in database \"express\", table \"dbo.{child}\", column '{fk[3]}'.")  # fmt: skip
    return SqlError(547, f'The {verb} statement conflicted with the FOREIGN KEY constraint "{name}". The conflict '
                    f"occurred in database \"express\", table \"dbo.{parent}\", column '{fk[4]}'.")  # fmt: skip
