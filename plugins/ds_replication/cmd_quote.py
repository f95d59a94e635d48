"""Quoting arguments for cmd.exe so that no folder or file name can become a command.

Inside double quotes cmd.exe treats `&`, `|`, `<`, `>`, `^`, `(` and `)` literally, but it
still expands `%VAR%` (and `!VAR!` with delayed expansion), and a `"` would end the quoting.
There is no escape for those inside quotes on a command line, so they are refused, never
escaped. Control characters (newlines above all) are refused too.
"""

from __future__ import annotations

FORBIDDEN = {'"': "a double quote", "%": "'%' (cmd.exe expands %VAR%)", "!": "'!' (delayed expansion)"}


def unsafe_character(value: str) -> str | None:
    """What makes `value` unsafe inside double quotes on a cmd.exe line, or None."""
    for char in value:
        if char in FORBIDDEN:
            return FORBIDDEN[char]
        if ord(char) < 32 or ord(char) == 127:
            return f"control character {char!r}"
    return None


def quote_arg(value: str) -> str:
    """`value` as one double-quoted cmd.exe argument; ValueError when it cannot be made safe."""
    if not value:
        raise ValueError("empty argument")
    problem = unsafe_character(value)
    if problem:
        raise ValueError(f"{value!r} cannot be passed safely to cmd.exe: contains {problem}")
    # The C runtime reads `\"` as an escaped quote: double trailing backslashes.
    trailing = len(value) - len(value.rstrip("\\"))
    return '"' + value + "\\" * trailing + '"'


def command_line(program: str, *args: str) -> str:
    """A program and its quoted arguments; switches such as `/o` pass as they are."""
    parts = [program]
    for arg in args:
        is_switch = len(arg) == 2 and arg[0] == "/" and arg[1].isalpha()
        parts.append(arg if is_switch else quote_arg(arg))
    return " ".join(parts)
