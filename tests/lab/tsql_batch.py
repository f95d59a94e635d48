"""Splitting a T-SQL batch into statements and control flow, as SQL Server reads it.

T-SQL needs no `;` between statements, so a statement ends where the next one begins: at a
statement keyword outside parentheses. The result is a small tree of `Simple` statements,
`If` and `Block` nodes that the interpreter walks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.lab.tsql_errors import SqlError, syntax_error, unsupported

STARTS = {
    "USE", "IF", "ELSE", "BEGIN", "END", "SELECT", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE",
    "ALTER", "TRUNCATE", "SET", "DECLARE", "COMMIT", "ROLLBACK", "RAISERROR", "RETURN", "PRINT",
    "EXEC", "EXECUTE", "MERGE", "WITH", "GO", "THROW", "WHILE", "SAVE",
}  # fmt: skip
SET_OPERATORS = {"UNION", "EXCEPT", "INTERSECT", "ALL"}

# Strings, quoted names and comments are single tokens, so keywords inside them never count.
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<comment>--[^\n]*|/\*.*?\*/)
    |(?P<string>N?'(?:[^']|'')*')
    |(?P<quoted>\[[^\]]*\]|"[^"]*")
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
    end: int  # inclusive
    line: int


def tokenize(batch: str) -> list[Token]:
    tokens, line = [], 1
    for m in _TOKEN.finditer(batch):
        kind = m.lastgroup or "other"
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, m.group(), m.start(), m.end() - 1, line))
        line += m.group().count("\n")
    last = tokens[-1] if tokens else None
    if last is not None and last.kind == "other" and last.text == "'":
        raise syntax_error("'")
    return tokens


@dataclass
class Simple:
    text: str
    keyword: str
    line: int


@dataclass
class If:
    condition: str
    then: object
    otherwise: object | None
    line: int


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
            start, end = current[0].start, current[-1].end
            units.append((_keyword(current[0]) or current[0].text.upper(), batch[start : end + 1], current[0].line))
            current.clear()

    for n, token in enumerate(tokens):
        if token.kind == "lparen":
            depth += 1
        elif token.kind == "rparen":
            depth -= 1
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
        if word in ("BEGIN", "END", "ELSE") and not _is_transaction(tokens, n):
            flush()
    flush()
    return units


def _is_transaction(tokens: list[Token], n: int) -> bool:
    nxt = tokens[n + 1].text.upper() if n + 1 < len(tokens) else ""
    return tokens[n].text.upper() == "BEGIN" and nxt in ("TRAN", "TRANSACTION")


def _continues(current: list[Token], word: str, tokens: list[Token], n: int) -> bool:
    """Does keyword `word` (at tokens[n]) belong to the statement in `current`?"""
    first = _keyword(current[0])
    words = {t.text.upper() for t in current}
    previous = tokens[n - 1].text.upper()
    if word == "SELECT" and previous in SET_OPERATORS:
        return True
    if word == "SELECT" and first == "INSERT" and not words & {"SELECT", "VALUES"}:
        return True
    if word == "SET" and first == "UPDATE" and "SET" not in words:
        return True
    if word == "IF" and previous == "TABLE":  # DROP TABLE IF EXISTS: refused later, by name
        return True
    return word == "SELECT" and first == "WITH"


def parse_batch(batch: str) -> Block:
    """The batch as a tree; SqlError for what SQL Server would refuse to compile."""
    units = split_units(batch)
    return _parse_block(units, 0, top=True)[0]


def _parse_block(units: list, i: int, top: bool = False) -> tuple[Block, int]:
    block = Block()
    while i < len(units):
        keyword = units[i][0]
        if keyword == "END":
            if top:
                raise syntax_error("END")
            return block, i + 1
        node, i = _parse_statement(units, i)
        block.body.append(node)
    if not top:
        raise syntax_error("BEGIN without END")
    return block, i


def _parse_statement(units: list, i: int) -> tuple[object, int]:
    keyword, text, line = units[i]
    if keyword == "BEGIN" and text.upper() == "BEGIN":
        return _parse_block(units, i + 1)
    if keyword == "IF":
        condition = text[2:].strip()
        if not condition or i + 1 >= len(units):
            raise syntax_error("IF without a statement")
        then, j = _parse_statement(units, i + 1)
        otherwise = None
        if j < len(units) and units[j][0] == "ELSE":
            if j + 1 >= len(units):
                raise syntax_error("ELSE without a statement")
            otherwise, j = _parse_statement(units, j + 1)
        return If(condition, then, otherwise, line), j
    if keyword == "ELSE":
        raise syntax_error("ELSE")
    if keyword in ("GO", "WITH", "MERGE", "EXEC", "EXECUTE", "WHILE", "THROW", "SAVE"):
        raise unsupported(f"{keyword} statements")
    if keyword not in STARTS:
        raise syntax_error(text.split()[0])
    return Simple(text, keyword, line), i + 1


__all__ = ["Block", "If", "Simple", "SqlError", "parse_batch", "split_units"]
