"""Quoting arguments for cmd.exe so that no folder or file name can become a command.

Inside double quotes cmd.exe takes `&`, `|`, `<`, `>`, `^`, `(`, `)`, `;`, `,` and `=` literally,
but it still expands `%VAR%` (and `!VAR!` with delayed expansion), and a `"` would end the
quoting. Nothing escapes those inside quotes on a command line, so they are refused, never
escaped. Control characters (newlines above all) are refused too.

The program then splits its command line with the MS C runtime rules: backslashes are literal
unless they precede a `"`, so only the backslashes just before the closing quote are doubled.
An ANSI program (axexport/aximport may be one) sees its arguments after Windows' "best fit"
code page conversion, which turns look-alikes such as the fullwidth quotation mark (U+FF02)
into `"`; those are refused as well, so the program splits the line exactly as written here.
"""

from __future__ import annotations

import re
import unicodedata

_EXPLAINED = {
    '"': "'\"', which would end the quoting",
    "%": "'%', which cmd.exe would expand",
    "!": "'!', which cmd.exe expands when delayed expansion is on",
}
# Characters that best-fit code page conversion can turn into '"' or '\' (the CRT splits on them).
_LOOKALIKES = set("\u02ba\u02dd\u02ee\u201c\u201d\u201e\u201f\u2033\u2036\u3003\u00a5\u20a9")
_BARE_PROGRAM = re.compile(r"[A-Za-z0-9_.-]+")
_SWITCH = re.compile(r"/[A-Za-z]")


def unsafe_character(value: str) -> str | None:
    """What makes `value` unsafe inside double quotes on a cmd.exe line, in words; None if nothing."""
    for char in value:
        if char in _EXPLAINED:
            return _EXPLAINED[char]
        if unicodedata.category(char) == "Cc":
            return f"the control character U+{ord(char):04X}, which would break the command line"
        plain = unicodedata.normalize("NFKC", char)
        if char in _LOOKALIKES or (plain != char and set(plain) & {'"', "%", "!", "\\"}):
            return f"{char!r} (U+{ord(char):04X}), which Windows may turn into a quote, '%', '!' or '\\'"
    return None


def quote_arg(value: str) -> str:
    """`value` as one double-quoted argument; ValueError naming the value and the character if unsafe."""
    if not value:
        raise ValueError("an empty argument cannot be passed to cmd.exe")
    problem = unsafe_character(value)
    if problem:
        raise ValueError(f"{value!r} cannot be passed safely to cmd.exe: it contains {problem}")
    # The C runtime reads `\"` as an escaped quote: double the backslashes before the closing one.
    trailing = len(value) - len(value.rstrip("\\"))
    return '"' + value + "\\" * trailing + '"'


def command_line(program: str, *args: str) -> str:
    """`program` followed by its quoted arguments; two-letter switches such as `/o` pass as they are."""
    if not _BARE_PROGRAM.fullmatch(program):
        raise ValueError(f"{program!r} is not a bare program name (letters, digits, '_', '.', '-')")
    parts = [program]
    for arg in args:
        parts.append(arg if _SWITCH.fullmatch(arg) else quote_arg(arg))
    return " ".join(parts)
