"""Server and trigger settings: `EXEC sp_configure` and `RECONFIGURE` (the `nested triggers`
option only), `DISABLE|ENABLE TRIGGER`, `ALTER TABLE ... DISABLE|ENABLE TRIGGER` and
`EXEC sp_settriggerorder`. Any other procedure is refused by name (50001)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.lab.tsql import catalog, firing, server
from tests.lab.tsql.batch import tokenize
from tests.lab.tsql.errors import SqlError, syntax_error, unsupported
from tests.lab.tsql.results import Column, ResultSet

if TYPE_CHECKING:
    from tests.lab.tsql.session import Output, Session

_NAME = r"(?:\[(?:[^\]]|\]\])+\]|[A-Za-z_][\w$#@]*)"
_QUALIFIED = rf"(?:{_NAME}\s*\.\s*)?{_NAME}"
_PROCEDURE = re.compile(rf"(?is)^EXEC(?:UTE)?\s+((?:{_NAME}\s*\.\s*){{0,2}}{_NAME})\s*(.*)$")
# DISABLE TRIGGER { name | ALL } ON table / ALTER TABLE table { ENABLE | DISABLE } TRIGGER { name | ALL }
_TRIGGER_STATE = re.compile(rf"(?is)^(DISABLE|ENABLE)\s+TRIGGER\s+({_QUALIFIED})\s+ON\s+({_QUALIFIED})\s*$")
_ALTER_STATE = re.compile(rf"(?is)^ALTER\s+TABLE\s+({_QUALIFIED})\s+(DISABLE|ENABLE)\s+TRIGGER\s+({_QUALIFIED})\s*$")


def _unquote(name: str) -> str:
    """The last part of a [schema.]name, unquoted; a schema other than dbo is refused."""
    parts = [p.strip() for p in re.findall(rf"{_NAME}", name)]
    if len(parts) > 1 and parts[-2].strip("[]").lower() not in ("dbo", "sys"):
        raise unsupported(f"objects outside the dbo schema ({name})")
    last = parts[-1]
    return last[1:-1].replace("]]", "]") if last.startswith("[") else last


def _arguments(text: str) -> list[tuple[str | None, Any]]:
    """`@name = value` or `value` arguments of an EXEC: strings and integers only."""
    out: list[tuple[str | None, Any]] = []
    tokens = [t for t in tokenize(text)]
    i = 0
    while i < len(tokens):
        name = None
        if tokens[i].text.startswith("@") and i + 1 < len(tokens) and tokens[i + 1].text == "=":
            name, i = tokens[i].text[1:].lower(), i + 2
        if i >= len(tokens):
            raise syntax_error("=")
        token = tokens[i]
        if token.kind == "string":
            value: Any = token.text[token.text.index("'") + 1 : -1].replace("''", "'")
        elif token.text == "-" and i + 1 < len(tokens) and tokens[i + 1].text.isdigit():
            i += 1
            value = -int(tokens[i].text)
        elif token.text.isdigit():
            value = int(token.text)
        else:
            raise unsupported(f"EXEC arguments other than strings and numbers ({token.text})")
        out.append((name, value))
        i += 1
        if i < len(tokens):
            if tokens[i].text != ",":
                raise syntax_error(tokens[i].text)
            i += 1
    return out


def _named(args: list[tuple[str | None, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for position, (name, value) in enumerate(args):
        key = name if name is not None else (names[position] if position < len(names) else None)
        if key not in names:
            raise SqlError(8145, f"@{key} is not a parameter for procedure.", severity=16)
        values[key] = value
    return values


def compile_exec(text: str) -> tuple:
    m = _PROCEDURE.match(text.strip())
    if not m:
        raise syntax_error("EXEC")
    procedure = _unquote(m.group(1)).lower()
    args = _arguments(m.group(2))
    if procedure == "sp_configure":
        values = _named(args, ("configname", "configvalue"))
        return ("sp_configure", values.get("configname"), values.get("configvalue"))
    if procedure == "sp_settriggerorder":
        values = _named(args, ("triggername", "order", "stmttype", "namespace"))
        return ("sp_settriggerorder", values.get("triggername"), values.get("order"), values.get("stmttype"))
    raise unsupported(f"EXEC {m.group(1)} (the lab runs sp_configure and sp_settriggerorder only)")


def compile_trigger_state(text: str) -> tuple | None:
    """DISABLE|ENABLE TRIGGER name|ALL ON t, ALTER TABLE t DISABLE|ENABLE TRIGGER name|ALL; else None."""
    m = _TRIGGER_STATE.match(text.strip())
    if m:
        verb, trigger, table, statement = m.group(1), m.group(2), m.group(3), "DISABLE TRIGGER"
    else:
        m = _ALTER_STATE.match(text.strip())
        if not m:
            return None
        table, verb, trigger, statement = m.group(1), m.group(2), m.group(3), "ALTER TABLE"
    if _unquote(table).upper() in ("DATABASE", "SERVER"):
        raise unsupported(f"{verb.upper()} TRIGGER ... ON {_unquote(table).upper()} (DDL triggers)")
    name = None if trigger.strip().upper() == "ALL" else _unquote(trigger)
    return ("trigger_state", statement, _unquote(table), name, verb.upper() == "DISABLE")


def run(s: Session, kind: str, args: list[Any], out: list[Output]) -> None:
    if kind == "sp_configure":
        _sp_configure(s, args[0], args[1], out)
    elif kind == "reconfigure":
        server.reconfigure(s.db)
    elif kind == "trigger_state":
        _trigger_state(s, *args)
    else:
        _sp_settriggerorder(s, *args)


def _sp_configure(s: Session, option: Any, value: Any, out: list[Output]) -> None:
    if option is None:
        raise unsupported("sp_configure without an option name (the lab has one option: 'nested triggers')")
    key = " ".join(str(option).split()).lower()
    if key not in server.OPTIONS:
        raise SqlError(15123, f"The configuration option '{option}' does not exist, or it may be an advanced option.")
    fact_name, minimum, maximum = server.OPTIONS[key]
    if value is None:  # report it, as sp_configure 'name' does
        config = int(server.fact(s.db, fact_name) or 0)
        in_use = int(server.fact(s.db, f"{fact_name}_in_use") or 0)
        columns = [Column("name", "nvarchar", False, 35), Column("minimum", "int", False),
                   Column("maximum", "int", False), Column("config_value", "int", False),
                   Column("run_value", "int", False)]  # fmt: skip
        out.append(ResultSet(columns, [(key, minimum, maximum, config, in_use)]))
        return
    if not isinstance(value, int) or not minimum <= value <= maximum:
        raise SqlError(15129, f"'{value}' is not a valid value for configuration option '{key}'.")
    server.configure(s.db, key, value)


def _trigger_state(s: Session, statement: str, written_table: str, name: str | None, disabled: bool) -> None:
    table = catalog.table_name(s.db, written_table)
    if table is None:
        raise SqlError(1088, f'Cannot find the object "{written_table}" because it does not exist or you do not '
                       "have permissions.")  # fmt: skip
    native = s.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
        "AND name NOT LIKE 'lab\\_%' ESCAPE '\\'",
        (table,),
    ).fetchall()
    if name is None and native:
        raise unsupported(f"{'DISABLE' if disabled else 'ENABLE'} TRIGGER ALL on {table}: its native trigger "
                          f"{native[0][0]} cannot be switched")  # fmt: skip
    if name is not None and not firing.registered(s.db, name):
        if catalog.trigger_name(s.db, name) is not None:
            raise unsupported(f"{'DISABLE' if disabled else 'ENABLE'} TRIGGER of the native trigger {name}")
        if statement == "ALTER TABLE":
            raise SqlError(4920, f"ALTER TABLE failed because trigger '{name}' does not belong to table '{table}'.")
        raise SqlError(1088, f'Cannot find the object "{name}" because it does not exist or you do not have '
                       "permissions.")  # fmt: skip
    if name is not None and name.lower() not in (t.lower() for t in firing.triggers_of(s.db, table)):
        if statement == "ALTER TABLE":
            raise SqlError(4920, f"ALTER TABLE failed because trigger '{name}' does not belong to table '{table}'.")
        raise SqlError(1088, f'Cannot find the object "{name}" because it does not exist or you do not have '
                       "permissions.")  # fmt: skip
    firing.set_disabled(s.db, table, name, disabled)


def _sp_settriggerorder(s: Session, name: Any, order: Any, stmttype: Any) -> None:
    if name is None or order is None or stmttype is None:
        raise SqlError(201, "Procedure or function 'sp_settriggerorder' expects parameter '@triggername', "
                       "'@order' and '@stmttype', which were not supplied.")  # fmt: skip
    trigger = _unquote(str(name))
    if not firing.registered(s.db, trigger):
        raise SqlError(15009, f"The object '{name}' does not exist in database 'express' or is invalid for this "
                       "operation.")  # fmt: skip
    orders = {"first": 1, "none": 0, "last": -1}
    if str(order).lower() not in orders:
        raise unsupported(f"sp_settriggerorder @order = '{order}' (First, Last or None)")
    if str(stmttype).upper() != "DELETE":
        raise unsupported(f"sp_settriggerorder @stmttype = '{stmttype}' (the lab's triggers are AFTER DELETE)")
    firing.set_order(s.db, trigger, orders[str(order).lower()])
