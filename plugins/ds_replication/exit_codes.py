"""A Windows program's exit code as Windows shows it: a crash's NTSTATUS in hex with its name
(3221225477 -> 0xC0000005, access violation), and the last line the program printed."""

from __future__ import annotations

# The NTSTATUS codes a crashed console program exits with (ntstatus.h; Microsoft's
# "NTSTATUS Values" page, [MS-ERREF] 2.3.1).
NTSTATUS_NAMES = {
    0xC0000005: "access violation",
    0xC0000017: "out of memory (no memory)",
    0xC000001D: "illegal instruction",
    0xC0000094: "integer divide by zero",
    0xC00000FD: "stack overflow",
    0xC000013A: "ended by Ctrl-C",
    0xC0000135: "a DLL was not found",
    0xC0000139: "an entry point was not found",
    0xC0000142: "a DLL failed to initialise",
    0xC0000409: "stack buffer overrun",
    0xC0000374: "heap corruption",
}


def exit_code_text(code: int) -> str:
    """`code` as Windows shows it: a small code in decimal, an NTSTATUS (high bit set, seen as
    a large or a negative number) as 0xXXXXXXXX with its name when known."""
    unsigned = code & 0xFFFFFFFF
    if unsigned < 0x80000000:
        return str(code)
    name = NTSTATUS_NAMES.get(unsigned)
    return f"0x{unsigned:08X}" + (f" ({name})" if name else "")


def last_output_line(stdout: str, stderr: str) -> str:
    """The last non-empty line the program printed (its error stream first), or '(no output)'."""
    for text in (stderr, stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "(no output)"


def failure_text(tool: str, code: int, stdout: str, stderr: str) -> str:
    """'<tool> exited with 0xC0000005 (access violation); its last output line: ...'."""
    return f"{tool} exited with {exit_code_text(code)}; its last output line: {last_output_line(stdout, stderr)}"
