"""Splitting a T-SQL batch into statements and control flow, as SQL Server reads it.

T-SQL needs no `;` between statements, so a statement ends where the next one begins: at a
statement keyword outside parentheses. The result is a small tree of `Simple` statements,
`If` and `Block` nodes that the session walks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.lab.tsql.errors import SqlError, syntax_error, unsupported

STARTS = {
    "USE", "IF", "ELSE", "BEGIN", "END", "SELECT", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE",
    "ALTER", "TRUNCATE", "SET", "DECLARE", "COMMIT", "ROLLBACK", "RAISERROR", "RETURN", "PRINT",
    "EXEC", "EXECUTE", "MERGE", "WITH", "GO", "THROW", "WHILE", "SAVE", "GRANT", "DENY", "REVOKE",
    "BREAK", "CONTINUE", "GOTO", "WAITFOR", "OPEN", "FETCH", "CLOSE", "DEALLOCATE", "BACKUP", "RESTORE",
    "DBCC", "BULK", "CHECKPOINT", "KILL", "SHUTDOWN", "RECONFIGURE", "READTEXT", "WRITETEXT", "UPDATETEXT",
    "DISABLE", "ENABLE",
}  # fmt: skip
# Statements the lab knows it does not run: refused by name, before anything in the batch runs.
REFUSED = STARTS - {
    "USE", "IF", "ELSE", "BEGIN", "END", "SELECT", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE",
    "ALTER", "TRUNCATE", "SET", "DECLARE", "COMMIT", "ROLLBACK", "RAISERROR", "RETURN", "PRINT",
    "EXEC", "EXECUTE", "RECONFIGURE", "DISABLE", "ENABLE",
}  # fmt: skip  # EXEC: the session runs sp_configure and sp_settriggerorder only
SET_OPERATORS = {"UNION", "EXCEPT", "INTERSECT", "ALL"}

# Strings, quoted names and comments are single tokens, so keywords inside them never count.
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<comment>--[^\n]*|/\*.*?\*/)
    |(?P<string>N?'(?:[^']|'')*')
    |(?P<quoted>\[(?:[^\]]|\]\])*\]|"(?:[^"]|"")*")
    |(?P<word>[@#]{0,2}[A-Za-z_][A-Za-z0-9_$#@]*)
    |(?P<lparen>\()|(?P<rparen>\))|(?P<semicolon>;)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int  # exclusive
    line: int


def tokenize(batch: str) -> list[Token]:
    tokens, line = [], 1
    for m in _TOKEN.finditer(batch):
        kind = m.lastgroup or "other"
        text = m.group()
        if kind == "other" and text in "'[\"":
            raise syntax_error(batch[m.start() : m.start() + 20].split("\n")[0])
        if kind == "other" and batch.startswith("/*", m.start()):
            raise SqlError(113, "Missing end comment mark '*/'.", severity=15)
        if kind == "word" and text.startswith("#"):
            raise unsupported(f"temporary tables ({text})")
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, text, m.start(), m.end(), line))
        line += text.count("\n")
    return tokens


@dataclass
class Simple:
    text: str
    keyword: str
    line: int
    compiled: object = None  # filled in by the session's compiler


@dataclass
class If:
    condition: str
    then: object
    otherwise: object | None
    line: int
    compiled: object = None


@dataclass
class Block:
    body: list = field(default_factory=list)


def _keyword(token: Token) -> str | None:
    if token.kind != "word":
        return None
    word = token.text.upper()
    return word if word in STARTS else None


def split_units(batch: str) -> list[tuple[str, str, int]]:
    """(keyword, text, line) of each statement-level unit: statements, IF headers, BEGIN/END/ELSE."""
    tokens = tokenize(batch)
    units: list[tuple[str, str, int]] = []
    current: list[Token] = []
    depth = 0
    cases = 0  # open CASE expressions: their ELSE and END are not statements

    def flush() -> None:
        if current:
            text = batch[current[0].start : current[-1].end]
            units.append((_keyword(current[0]) or current[0].text.upper(), text, current[0].line))
            current.clear()

    for n, token in enumerate(tokens):
        if token.kind == "lparen":
            depth += 1
        elif token.kind == "rparen":
            depth -= 1
            if depth < 0:
                raise syntax_error(")")
        if token.kind == "semicolon" and depth == 0:
            flush()
            continue
        upper = token.text.upper() if token.kind == "word" else ""
        if upper == "CASE":
            cases += 1
        word = _keyword(token) if depth == 0 and not (cases and upper in ("ELSE", "END")) else None
        if cases and upper == "END":
            cases -= 1
        if word and current and not _continues(current, word, tokens, n):
            flush()
        current.append(token)
        if word in ("BEGIN", "END", "ELSE") and not _begins_other(tokens, n):
            flush()
    if depth > 0:
        raise syntax_error(tokens[-1].text)
    flush()
    return units


def _begins_other(tokens: list[Token], n: int) -> bool:
    """BEGIN TRAN / TRY / CATCH / DISTRIBUTED: not the start of a block."""
    nxt = tokens[n + 1].text.upper() if n + 1 < len(tokens) and tokens[n + 1].kind == "word" else ""
    return tokens[n].text.upper() == "BEGIN" and nxt in ("TRAN", "TRANSACTION", "TRY", "CATCH", "DISTRIBUTED")


def _continues(current: list[Token], word: str, tokens: list[Token], n: int) -> bool:
    """Does keyword `word` (at tokens[n]) belong to the statement in `current`?"""
    first = _keyword(current[0])
    words = {t.text.upper() for t in current if t.kind == "word"}
    previous = tokens[n - 1].text.upper()
    if word == "SELECT" and previous in SET_OPERATORS:
        return True
    if word == "SELECT" and first == "INSERT" and not words & {"SELECT", "VALUES"}:
        return True
    if word == "SET" and first == "UPDATE" and "SET" not in words:
        return True
    if word == "IF" and previous == "TABLE":  # DROP TABLE IF EXISTS: refused later, by name
        return True
    if word == "WITH" and first in ("RAISERROR", "RECONFIGURE"):  # RAISERROR (...) WITH NOWAIT; WITH OVERRIDE
        return True
    if word in ("DISABLE", "ENABLE") and first == "ALTER":  # ALTER TABLE t DISABLE TRIGGER x
        return True
    if word == "WITH" and first == "ALTER" and "LOGIN" in words:  # ALTER LOGIN x WITH DEFAULT_LANGUAGE = ...
        return True
    following = tokens[n + 1].text.upper() if n + 1 < len(tokens) else ""
    if word == "ALTER" and first == "ALTER" and "TABLE" in words and following == "COLUMN":  # ALTER COLUMN
        return True
    return (
        word == "WITH"
        and first is not None
        and previous not in (";",)
        and tokens[n - 1].kind != "rparen"
        and (n + 1 < len(tokens) and tokens[n + 1].kind == "lparen")
    )  # a table hint: WITH (NOLOCK), refused with its statement


def parse_batch(batch: str) -> Block:
    """The batch as a tree; SqlError for what SQL Server would refuse to compile."""
    units = split_units(batch)
    return _parse_block(units, 0, top=True)[0]


def _parse_block(units: list, i: int, top: bool = False) -> tuple[Block, int]:
    block = Block()
    while i < len(units):
        if units[i][0] == "END":
            if top:
                raise syntax_error("END")
            return block, i + 1
        node, i = _parse_statement(units, i)
        block.body.append(node)
    if not top:
        raise syntax_error(units[-1][1].split()[-1] if units else "BEGIN")
    return block, i


def _parse_statement(units: list, i: int) -> tuple[object, int]:
    keyword, text, line = units[i]
    if keyword == "BEGIN" and text.upper() == "BEGIN":
        return _parse_block(units, i + 1)
    if keyword == "IF":
        condition = text[2:].strip()
        if not condition:
            raise syntax_error("IF")
        if i + 1 >= len(units):
            raise syntax_error(condition.split()[-1])
        then, j = _parse_statement(units, i + 1)
        otherwise = None
        if j < len(units) and units[j][0] == "ELSE":
            if j + 1 >= len(units):
                raise syntax_error("ELSE")
            otherwise, j = _parse_statement(units, j + 1)
        return If(condition, then, otherwise, line), j
    if keyword in ("ELSE", "END"):
        raise syntax_error(keyword)
    if keyword == "BEGIN":
        second = text.split()[1].upper() if len(text.split()) > 1 else ""
        if second not in ("TRAN", "TRANSACTION"):
            raise unsupported(f"BEGIN {second}")
    if keyword in REFUSED:
        raise unsupported(f"{keyword} statements")
    if keyword == "CREATE" and text.split()[1:2] and text.split()[1].upper() == "TRIGGER":
        # a batch that starts with it is a trigger definition (triggers.py), never split here
        raise SqlError(111, "'CREATE TRIGGER' must be the first statement in a query batch.", severity=15)
    if keyword not in STARTS:
        raise syntax_error(text.split()[0])
    return Simple(text, keyword, line), i + 1
