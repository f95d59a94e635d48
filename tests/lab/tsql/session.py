"""One client connection to the lab's SQL Server: control flow, variables, SET options,
transactions, lock waits, cancel and the fault hook. Data statements: statements.py."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from tests.lab.tsql import catalog, constraints, functions, procedures, server, statements, triggers, who
from tests.lab.tsql.batch import Block, If, Simple, parse_batch
from tests.lab.tsql.errors import (
    ConnectionDropped,
    SqlError,
    invalid_object,
    lock_timeout,
    syntax_error,
    undeclared_variable,
    unsupported,
)
from tests.lab.tsql.infer import ColType, type_name
from tests.lab.tsql.results import (
    DATEFORMATS,
    INTEGER_TYPES,
    LANGUAGE_DATEFORMAT,
    STRING_TYPES,
    ResultSet,
    to_datetime_text,
    to_int,
)
from tests.lab.tsql.translate import LabTSQL, Translator, check, parse, variables_used

if TYPE_CHECKING:
    from tests.lab.tsql.engine import Engine

Hook = Callable[[str, str, str], None]
Output = ResultSet | int | SqlError
LOCK_WAIT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.05  # SQLite's own busy wait per try; between tries the session checks for cancel
# SET options clients send on connect (pymssql/FreeTDS, the mssql provider): accepted, no effect.
IGNORED_SET_OPTIONS = {
    "TEXTSIZE", "ANSI_NULLS", "ANSI_NULL_DFLT_ON", "ANSI_NULL_DFLT_OFF", "ANSI_PADDING", "ANSI_WARNINGS",
    "QUOTED_IDENTIFIER", "CONCAT_NULL_YIELDS_NULL", "ARITHABORT", "LOCK_TIMEOUT",
    "IMPLICIT_TRANSACTIONS", "CURSOR_CLOSE_ON_COMMIT", "DATEFIRST", "TRANSACTION", "NUMERIC_ROUNDABORT",
    "ANSI_DEFAULTS", "DEADLOCK_PRIORITY", "ARITHIGNORE", "NOEXEC", "FMTONLY",
}  # fmt: skip
WRITES = ("INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "TRUNCATE")


class _EndBatch(Exception):
    """The batch stops here (an error that ends it, RETURN, or a cancel)."""


class _Cancelled(Exception):
    """The client cancelled while a statement ran or waited for a lock."""


class Session:
    def __init__(self, engine: Engine, hook: Hook | None = None, app_name: str = "", host_name: str = "",
                 login: str = "sa") -> None:  # fmt: skip
        self.engine = engine
        self.database = engine.database
        self.hook = hook
        self.spid = who.next_spid()
        # A login waits out a brief lock on the file (WAL recovery, a closing connection's
        # checkpoint) as SQL Server's does; a session that failed to start dropped the connection
        # ("Unexpected EOF" in the client). Statements then poll, so a cancel can stop a wait.
        self.db = sqlite3.connect(
            engine.db_path, timeout=LOCK_WAIT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA recursive_triggers=ON")
        self.db.execute("PRAGMA foreign_keys=ON")  # only tables that declare one have any (SUBSET.md)
        # APP_NAME(), HOST_NAME(), SUSER_SNAME(), @@SPID of this session (the login's, tds.py)
        who.open_session(self.db, who.Identity(self.spid, app_name, host_name, login))
        # The login's default language (ALTER LOGIN ... WITH DEFAULT_LANGUAGE), read when the
        # session starts, as SQL Server does; SET LANGUAGE / SET DATEFORMAT change the session's.
        self.language = login_language(self.db)
        self.dateformat = LANGUAGE_DATEFORMAT[self.language]
        self.function_errors = functions.FunctionErrors()
        functions.register(self.db, self.function_errors, lambda: self.dateformat)
        catalog.install_views(self.db)
        self.db.execute(f"PRAGMA busy_timeout = {int(LOCK_POLL_SECONDS * 1000)}")
        self.translator = Translator(self.db, lambda: self.database, self._variable, self._global)
        self.cancelled = threading.Event()  # set by cancel(); a blocking hook may wait on it
        self.variables: dict[str, list[Any]] = {}  # name -> [ColType, value]
        self.nocount = False
        self.xact_abort = False
        self.identity_insert: str | None = None
        self.rowcount = 0
        self.error = 0
        self._trancount = 0
        self._closed = False
        self._batch = ""

    # -- the TDS layer's interface ------------------------------------------------------------

    @property
    def trancount(self) -> int:
        return self._trancount

    def execute(self, batch: str) -> Iterator[Output]:
        self._batch = batch
        self.variables = {}  # variables live for one batch
        try:
            try:
                tree = self._compile(batch)
            except SqlError as error:
                self.error = error.number
                yield error
                return
            yield from self._run_block(tree)
        except _EndBatch:
            pass
        finally:
            self.cancelled.clear()

    def cancel(self) -> None:
        """From another thread (the client's ATTENTION): stop at the next statement boundary."""
        self.cancelled.set()
        self.db.interrupt()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self._trancount = 0
            self.db.close()

    # -- compiling: the whole batch before anything runs, as SQL Server does -----------------

    def _compile(self, batch: str) -> Block:
        if triggers.starts_batch(batch):
            return Block([Simple(batch, "CREATE", 1, ("create_trigger", triggers.compile_create(batch)))])
        tree = parse_batch(batch)
        self._compile_block(tree, set())
        return tree

    def _compile_block(self, block: Block, declared: set[str]) -> None:
        for node in block.body:
            self._compile_node(node, declared)

    def _compile_node(self, node: object, declared: set[str]) -> None:
        if isinstance(node, Block):
            self._compile_block(node, declared)
        elif isinstance(node, If):
            node.compiled = self._expression(f"CASE WHEN {node.condition} THEN 1 ELSE 0 END", declared, node.condition)
            self._compile_node(node.then, declared)
            if node.otherwise is not None:
                self._compile_node(node.otherwise, declared)
        else:
            assert isinstance(node, Simple)
            node.compiled = self._compile_simple(node, declared)

    def _expression(self, sql: str, declared: set[str], near: str) -> exp.Expression:
        tree = parse(f"SELECT {sql}")
        if not isinstance(tree, exp.Select) or len(tree.expressions) < 1:
            raise syntax_error(near.split()[0] if near.split() else near)
        check(tree)
        self._check_declared(tree, declared)
        return tree

    def _check_declared(self, tree: exp.Expression, declared: set[str]) -> None:
        for name in variables_used(tree):
            if name not in declared:
                raise undeclared_variable(name)

    def _compile_simple(self, node: Simple, declared: set[str]) -> tuple:
        text, words = node.text, node.text.split()
        keyword = node.keyword
        upper = [w.upper() for w in words]
        if keyword == "USE":
            if len(words) != 2:
                raise syntax_error(words[-1])
            return ("use", words[1].strip('[]"'))
        if keyword == "DECLARE":
            return ("declare", self._compile_declare(text, declared))
        if keyword == "SET":
            m = re.match(r"(?is)^SET\s+@(\w+)\s*([-+*/%&|^]?)=\s*(.+)$", text)
            if m:
                if m.group(2):
                    raise unsupported(f"compound assignment SET @v {m.group(2)}=")
                name = m.group(1).lower()
                if name not in declared:
                    raise undeclared_variable(m.group(1))
                return ("set_var", name, self._expression(m.group(3), declared, m.group(3)))
            return ("set_option", self._compile_option(upper, words))
        if keyword == "ALTER" and len(upper) > 1 and upper[1] == "LOGIN":
            return ("alter_login", _alter_login(text))
        if keyword == "BEGIN":
            if len(words) > 2:
                raise unsupported("named transactions")
            return ("begin",)
        if keyword in ("COMMIT", "ROLLBACK"):
            if len(words) > 2 or (len(words) == 2 and upper[1] not in ("TRAN", "TRANSACTION", "WORK")):
                raise unsupported(f"{keyword} with a transaction name or savepoint")
            return (keyword.lower(),)
        if keyword == "RETURN":
            if len(words) > 1:
                raise SqlError(178, "A RETURN statement with a return value cannot be used in this context.", 15)
            return ("return",)
        if keyword == "RAISERROR":
            m = re.match(r"(?is)^RAISERROR\s*\((.*)\)\s*(?:WITH\s+(NOWAIT|LOG|SETERROR)(\s*,\s*\w+)*)?$", text)
            if not m:
                raise syntax_error("RAISERROR")
            return ("raiserror", self._expression(m.group(1), declared, m.group(1)))
        if keyword == "PRINT":
            return ("print", self._expression(text[5:], declared, text[5:]))
        if keyword in ("EXEC", "EXECUTE"):
            return procedures.compile_exec(text)
        if keyword == "RECONFIGURE":
            if not re.fullmatch(r"(?is)RECONFIGURE(\s+WITH\s+OVERRIDE)?\s*", text):
                raise syntax_error(words[-1])
            return ("reconfigure",)
        state = procedures.compile_trigger_state(text)
        if state is not None:
            return state
        tree = parse(text)
        check(tree)
        self._check_declared(tree, declared)
        return ("data", tree)

    def _compile_declare(self, text: str, declared: set[str]) -> list[tuple[str, ColType, Any]]:
        out = []
        for part in _split_top_level(text[len("DECLARE") :]):
            m = re.match(r"(?is)^\s*@(\w+)\s+(?:AS\s+)?(\w+(?:\s*\([^)]*\))?)\s*(?:=\s*(.+))?$", part)
            if not m:
                raise syntax_error(part.strip().split()[0] if part.strip() else "DECLARE")
            name = m.group(1).lower()
            if m.group(2).upper() in ("TABLE", "CURSOR"):
                raise unsupported(f"{m.group(2).upper()} variables")
            kind, size = type_name(parse(f"SELECT CAST(NULL AS {m.group(2)})").find(exp.DataType))
            if kind is None:
                raise unsupported(f"variables of type {m.group(2)}")
            if name in declared:
                raise SqlError(134, f"The variable name '@{m.group(1)}' has already been declared. Variable names "
                               "must be unique within a query batch or stored procedure.", 15)  # fmt: skip
            initial = self._expression(m.group(3), declared, m.group(3)) if m.group(3) else None
            declared.add(name)
            out.append((name, ColType(kind, size), initial))
        return out

    def _compile_option(self, upper: list[str], words: list[str]) -> tuple:
        option = upper[1] if len(upper) > 1 else ""
        if option in ("NOCOUNT", "XACT_ABORT"):
            if len(upper) != 3 or upper[2] not in ("ON", "OFF"):
                raise syntax_error(words[-1])
            return (option, upper[2] == "ON")
        if option == "IDENTITY_INSERT":
            if len(upper) != 4 or upper[3] not in ("ON", "OFF"):
                raise syntax_error(words[-1])
            return (option, words[2], upper[3] == "ON")
        if option == "LANGUAGE":
            return (option, _language(" ".join(words[2:])))
        if option == "DATEFORMAT":
            value = " ".join(words[2:]).strip("'\"").lower()
            if len(upper) != 3 or value not in DATEFORMATS:
                raise unsupported(f"SET DATEFORMAT {' '.join(words[2:])} (the lab knows {', '.join(DATEFORMATS)})")
            return (option, value)
        if option in IGNORED_SET_OPTIONS or (option.startswith("ANSI_") and option in IGNORED_SET_OPTIONS):
            return ("IGNORED",)
        raise unsupported(f"SET {option}")

    # -- running -------------------------------------------------------------------------------

    def _run_block(self, block: Block) -> Iterator[Output]:
        for node in block.body:
            yield from self._run_node(node)

    def _run_node(self, node: object) -> Iterator[Output]:
        if isinstance(node, Block):
            yield from self._run_block(node)
            return
        if self.cancelled.is_set():
            self._end_for_cancel()
        text = node.condition if isinstance(node, If) else node.text  # type: ignore[union-attr]
        outputs: list[Output] = []
        try:
            self._call_hook("statement", text)  # a resource fault fails the statement (faults.py)
            if isinstance(node, If):
                chosen = node.then if self._scalar(node.compiled) else node.otherwise
            else:
                self._statement(node, outputs)
                chosen = None
            self.error = 0
        except SqlError as error:
            error.line = node.line  # type: ignore[union-attr]
            self.error = error.number
            yield from outputs
            yield error
            if (self.xact_abort and error.number != 50000) or error.severity >= 19:
                # severity 19 and up: "the current batch process has been terminated" (Database
                # Engine Error Severities); the open transaction goes with it
                self._rollback()
                raise _EndBatch from None
            if error.aborts_batch:
                raise _EndBatch from None
            return
        except _Cancelled:
            self._end_for_cancel()
        yield from outputs
        if chosen is not None:
            yield from self._run_node(chosen)

    def _end_for_cancel(self) -> None:
        if self.xact_abort:
            self._rollback()
        raise _EndBatch

    def _call_hook(self, point: str, statement: str) -> None:
        if self.hook is None:
            return
        try:
            self.hook(point, statement, self._batch)
        except ConnectionDropped:
            if point != "committed":
                self._rollback()
            raise

    def _statement(self, node: Simple, out: list[Output]) -> None:
        kind, *args = node.compiled  # type: ignore[misc]
        if kind == "use":
            if args[0].lower() != self.engine.database.lower():
                raise SqlError(
                    911, f"Database '{args[0]}' does not exist. Make sure that the name is entered correctly."
                )
            self.database = self.engine.database
        elif kind == "declare":
            for name, col_type, initial in args[0]:
                self.variables[name] = [col_type, None]
                if initial is not None:
                    self.set_variable(name, self._scalar(initial))
        elif kind == "set_var":
            self.set_variable(args[0], self._scalar(args[1]))
            self.rowcount = 1
        elif kind == "set_option":
            self._set_option(*args[0])
        elif kind == "begin":
            if self._trancount == 0:
                self._wait_for_lock("BEGIN IMMEDIATE")
            self._trancount += 1
        elif kind == "commit":
            self._commit()
        elif kind == "rollback":
            if not self._trancount:
                raise SqlError(3903, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
            self._rollback()
        elif kind == "return":
            raise _EndBatch
        elif kind == "raiserror":
            self._raiserror(args[0])
        elif kind == "print":
            self._scalar(args[0])
        elif kind == "alter_login":
            self.db.execute("INSERT OR REPLACE INTO lab_settings (name, value) VALUES ('login_language', ?)", args)
        elif kind in ("sp_configure", "reconfigure", "trigger_state", "sp_settriggerorder"):
            self._write(lambda: procedures.run(self, kind, args, out), out, count=False)
        elif kind == "create_trigger":
            self._write(lambda: triggers.create(self, args[0]), out, count=False)
        else:
            self._data(args[0], out)

    def _data(self, tree: exp.Expression, out: list[Output]) -> None:
        if isinstance(tree, exp.Select) and tree.args.get("into") is not None:
            self._write(lambda: statements.select_into(self, tree), out, count=True)
            return
        if isinstance(tree, exp.Select | exp.SetOperation):
            pairs = statements.assignments(tree)
            if pairs:
                select = tree.copy()
                select.set("expressions", [value.copy() for _, value in pairs])
                statements.assign(self, select, [name for name, _ in pairs])
            else:
                out.append(statements.query(self, tree))
            return
        actions = {
            exp.Insert: (statements.insert, True),
            exp.Update: (statements.update, True),
            exp.Delete: (statements.delete, True),
            exp.Create: (statements.create_table, False),
            exp.Drop: (statements.drop_table, False),
            exp.Alter: (statements.alter_table, False),
            exp.TruncateTable: (statements.truncate, False),
        }
        action, counts = actions[type(tree)]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind")).upper() == "TRIGGER":
            action = triggers.drop
        if isinstance(tree, exp.Create) and "INDEX" in str(tree.args.get("kind")).upper():
            action = constraints.create_index
        self._write(lambda: action(self, tree), out, count=counts)

    def _write(self, action: Callable[[], int | None], out: list[Output], count: bool) -> None:
        """A changing statement, atomic: its own transaction, or a savepoint inside the open one."""
        if self._trancount:
            self.db.execute("SAVEPOINT lab_statement")
        else:
            self._wait_for_lock("BEGIN IMMEDIATE")
        try:
            changed = action()
        except BaseException:
            if self._trancount:
                self.db.execute("ROLLBACK TO lab_statement")
                self.db.execute("RELEASE lab_statement")
            elif self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("RELEASE lab_statement" if self._trancount else "COMMIT")
        self.rowcount = changed or 0
        if count and not self.nocount:
            out.append(self.rowcount)

    # -- SET, variables, RAISERROR ------------------------------------------------------------

    def _set_option(self, option: str, *args: Any) -> None:
        if option == "NOCOUNT":
            self.nocount = args[0]
        elif option == "XACT_ABORT":
            self.xact_abort = args[0]
        elif option == "IDENTITY_INSERT":
            self._identity_insert(*args)
        elif option == "LANGUAGE":
            self.language, self.dateformat = args[0], LANGUAGE_DATEFORMAT[args[0]]
        elif option == "DATEFORMAT":
            self.dateformat = args[0]
        self.rowcount = 0

    def _identity_insert(self, written: str, on: bool) -> None:
        node = sqlglot.parse_one(f"SELECT * FROM {written}", read=LabTSQL).find(exp.Table)
        table = self.translator.table(node)
        if table in catalog.VIEWS or not any(c.identity for c in catalog.columns(self.db, table)):
            raise SqlError(8106, f"Table '{table}' does not have the identity property. Cannot perform SET operation.")
        current = self.identity_insert
        if on and current and current.lower() != table.lower():
            raise SqlError(
                8107,
                f"IDENTITY_INSERT is already ON for table 'express.dbo.{current}'. "
                f"Cannot perform SET operation for table '{table}'.",
            )
        if on:
            self.identity_insert = table
        elif current and current.lower() == table.lower():
            self.identity_insert = None

    def _variable(self, name: str) -> tuple[Any, ColType]:
        if name not in self.variables:
            raise undeclared_variable(name)
        kind, value = self.variables[name]
        return value, kind

    def _global(self, name: str) -> Any:
        if name == "version":  # the host's facts (tsql/server.py), read when asked
            return server.version_text(self.db)
        values = {"rowcount": self.rowcount, "trancount": self._trancount, "error": self.error, "spid": self.spid,
                  "servername": "DSLAB", "language": self.language}  # fmt: skip
        if name not in values:
            raise unsupported(f"@@{name.upper()}")
        return values[name]

    def set_variable(self, name: str, value: Any) -> None:
        kind = self.variables[name][0]
        self.variables[name][1] = _convert(value, kind, self.dateformat)

    def _scalar(self, tree: exp.Expression) -> Any:
        saved = self.rowcount
        result = statements.query(self, tree)
        self.rowcount = saved
        return result.rows[0][0] if result.rows else None

    def _raiserror(self, tree: exp.Select) -> None:
        args = list(statements.query(self, tree).rows[0])
        if len(args) < 3:
            raise syntax_error(")")
        message, severity, state = str(args[0]), to_int(args[1]) or 0, to_int(args[2]) or 0
        for value in args[3:]:
            message = re.sub(r"%-?\d*[dis]", lambda _m, v=value: "(null)" if v is None else str(v), message, count=1)
        message = message.replace("%%", "%")
        if severity >= 11:
            raise SqlError(50000, message, severity=severity, state=state)

    # -- transactions and locks ---------------------------------------------------------------

    def _commit(self) -> None:
        if not self._trancount:
            raise SqlError(3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
        if self._trancount > 1:
            self._trancount -= 1
            return
        self._call_hook("commit", "COMMIT")
        self.db.execute("COMMIT")
        self._trancount = 0
        self._call_hook("committed", "COMMIT")

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self._trancount = 0

    def _wait_for_lock(self, sql: str) -> None:
        """Take the write lock, waiting (cancellably) for another session's transaction: a lock wait."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                self.db.execute(sql)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
            if self.cancelled.is_set():
                raise _Cancelled
            if time.monotonic() > deadline:
                raise lock_timeout()
            time.sleep(0.01)

    def run_count(self, sql: str, params: dict | tuple = ()) -> int:
        """A changing statement; the rows it changed itself (not those its triggers changed)."""
        self.run(sql, params)
        return self.db.execute("SELECT changes()").fetchone()[0]

    def run(self, sql: str, params: dict | tuple = ()) -> sqlite3.Cursor:
        """One SQLite statement, its errors as SQL Server's."""
        try:
            return self.db.execute(sql, params)
        except sqlite3.IntegrityError as error:
            if str(error) == "FOREIGN KEY constraint failed":
                raise statements.foreign_key_error(self, sql, params) from None
            raise statements.integrity_error(error, self.db, sql) from None
        except sqlite3.OperationalError as error:
            message = str(error)
            raised = self.function_errors.take()
            if raised is not None:
                raise raised from None
            if message == "interrupted":
                raise _Cancelled from None
            if message.startswith("no such column"):
                raise SqlError(
                    207, f"Invalid column name '{message.split(':', 1)[1].strip().split('.')[-1]}'."
                ) from None
            if message.startswith("ambiguous column name"):
                raise SqlError(209, f"Ambiguous column name '{message.split(':', 1)[1].strip()}'.") from None
            if message.startswith("no such table"):  # in a trigger: "main.t"
                raise invalid_object(message.split(":", 1)[1].strip().removeprefix("main.")) from None
            if "locked" in message or "busy" in message:
                raise lock_timeout() from None
            raise unsupported(f"{message} (SQLite, in {sql[:200]!r})") from None


def _convert(value: Any, kind: ColType, dateformat: str = "mdy") -> Any:
    """A value assigned to a variable of type `kind` (strings cut to size, as T-SQL does)."""
    if value is None or kind.type is None:
        return value
    if kind.type in INTEGER_TYPES:
        return to_int(value, kind.type)
    if kind.type == "bit":
        return functions.cast(value, "bit", None, None, None)
    if kind.type == "datetime":
        return to_datetime_text(value, dateformat)
    if kind.type in ("float", "decimal"):
        return float(value)
    if kind.type in STRING_TYPES:
        text = value if isinstance(value, str) else str(value)
        return text[: kind.size] if kind.size else text
    return value


# SET LANGUAGE's names (sys.syslanguages.name and alias) -> the name @@LANGUAGE gives.
LANGUAGES = {"us_english": "us_english", "english": "us_english", "british": "British", "british english": "British",
             "deutsch": "Deutsch", "german": "Deutsch", "français": "Français", "french": "Français"}  # fmt: skip


def _language(written: str) -> str:
    name = written.strip().removeprefix("N").strip("'\"[]").lower()
    if name not in LANGUAGES:
        raise unsupported(f"language {written} (the lab knows {', '.join(sorted(set(LANGUAGES.values())))})")
    return LANGUAGES[name]


def _alter_login(text: str) -> str:
    """ALTER LOGIN [x] WITH DEFAULT_LANGUAGE = lang: the lab has one SQL login (the host's user),
    so the language is the default of every new session, not of the one running this."""
    m = re.match(r"(?is)^ALTER\s+LOGIN\s+(\[[^\]]+\]|\w+)\s+WITH\s+DEFAULT_LANGUAGE\s*=\s*(\S+)\s*;?$", text)
    if not m:
        raise unsupported("ALTER LOGIN other than WITH DEFAULT_LANGUAGE = <language>")
    return _language(m.group(2))


def login_language(db: sqlite3.Connection) -> str:
    """The default language of the lab's login (us_english unless ALTER LOGIN or the schema
    variant british_login set another)."""
    try:
        row = db.execute("SELECT value FROM lab_settings WHERE name = 'login_language'").fetchone()
    except sqlite3.OperationalError as error:  # a database made without lab_settings
        if "no such table" not in str(error):
            raise  # e.g. locked: never silently log in under another language
        return "us_english"
    return row[0] if row and row[0] in LANGUAGE_DATEFORMAT else "us_english"


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
