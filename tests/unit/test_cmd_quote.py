"""cmd.exe quoting: what passes inside double quotes unchanged, and what is refused."""

from __future__ import annotations

import pytest

from ds_replication.cmd_quote import command_line, quote_arg, unsafe_character


def crt_split(line: str) -> list[str]:
    """The MS C runtime's argv split (the rules that matter without embedded quotes)."""
    args, current, in_quotes, backslashes, started = [], "", False, 0, False
    for char in line:
        if char == "\\":
            backslashes += 1
            started = True
            continue
        if char == '"':
            current += "\\" * (backslashes // 2)
            if backslashes % 2:
                current += '"'
            else:
                in_quotes = not in_quotes
            backslashes, started = 0, True
            continue
        current += "\\" * backslashes
        backslashes = 0
        if char == " " and not in_quotes:
            if started:
                args.append(current)
            current, started = "", False
        else:
            current += char
            started = True
    current += "\\" * backslashes
    if started:
        args.append(current)
    return args


@pytest.mark.parametrize(
    "value",
    [
        "Global",
        "Drivers Dell",
        "R&D",
        "a ^ b",
        "Tools (old)",
        "Ops; Dev, QA = all",
        "O'Brien",
        "a > b < c | d",  # cmd.exe takes these literally inside quotes (DS folders cannot have them)
        "Büro",
        "Åsa",
        "Šiška",
        "日本",
        r"Global\Drivers\Dell",
        r"C:\Program Files\Altiris\eXpress\Deployment Server",
    ],
)
def test_safe_values_pass_inside_quotes_unchanged(value):
    quoted = quote_arg(value)
    assert quoted == f'"{value}"'
    assert crt_split(f"prog {quoted} /o") == ["prog", value, "/o"]


@pytest.mark.parametrize("value", ["C:\\dir\\", "share\\\\", "\\"])
def test_trailing_backslashes_are_doubled_so_the_closing_quote_stays_a_quote(value):
    quoted = quote_arg(value)
    trailing = len(value) - len(value.rstrip("\\"))
    assert quoted == '"' + value + "\\" * trailing + '"'
    assert crt_split(f"prog {quoted} next") == ["prog", value, "next"]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ('Global" & del *.* & "', "'\"'"),
        ("%TEMP%", "'%'"),
        ("Hello!", "'!'"),
        ("line\nnext", "U+000A"),
        ("cr\rhere", "U+000D"),
        ("tab\there", "U+0009"),
        ("nul\x00", "U+0000"),
        ("c1\x85", "U+0085"),
        ("full\uff02width", "U+FF02"),
        ("full\uff05width", "U+FF05"),
        ("yen\u00a5", "U+00A5"),
        ("curly\u201cquote", "U+201C"),
    ],
)
def test_unsafe_values_are_refused_naming_value_and_character(value, named):
    with pytest.raises(ValueError) as error:
        quote_arg(value)
    assert repr(value) in str(error.value)
    assert named in str(error.value)
    assert named in unsafe_character(value)


def test_empty_argument_is_refused():
    with pytest.raises(ValueError, match="empty"):
        quote_arg("")


def test_safe_value_has_no_unsafe_character():
    assert unsafe_character("R&D ^ (Büro)") is None


def test_command_line_quotes_arguments_and_keeps_switches():
    line = command_line("axexport", "/f", r"Global\R&D", "/s", r"C:\exports\run 1.bin")
    assert line == r'axexport /f "Global\R&D" /s "C:\exports\run 1.bin"'
    assert crt_split(line) == ["axexport", "/f", r"Global\R&D", "/s", r"C:\exports\run 1.bin"]


def test_command_line_quotes_what_only_looks_like_a_switch():
    assert command_line("aximport", "/o x") == 'aximport "/o x"'


@pytest.mark.parametrize("program", ["ax export", "a&b", "prog\n", ""])
def test_command_line_refuses_a_program_that_is_not_a_bare_name(program):
    with pytest.raises(ValueError, match="bare program name"):
        command_line(program, "x")


def test_command_line_refuses_an_unsafe_argument():
    with pytest.raises(ValueError, match="'%'"):
        command_line("aximport", "%COMSPEC%", "/o")
