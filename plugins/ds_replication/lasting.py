"""Which errors waiting will not heal.

A sensor pokes again while what it waits for is "not there yet", and after an error that may
pass on its own: a dropped connection, a timeout, a server that refuses connections while
it restarts. Anything else (a login refused, an unknown host, a missing table or share, an
SMB1-only server, a connection id that does not exist) fails the sensor at once with its
message: poking it for the sensor's whole timeout only hides the cause.
"""

from __future__ import annotations

import re

# pymssql (FreeTDS) messages of a connection that was lost, timed out or refused.
_SQL_TRANSIENT_TEXTS = (
    "connection refused",
    "timed out",
    "unexpected eof from the server",
    "read from the server failed",
    "write to the server failed",
    "dbprocess is dead",
    "connection reset",
    "broken pipe",
    "no route to host",
    "network is unreachable",
)
_SQL_TRANSIENT_NUMBERS = (1205, 1222)  # chosen as deadlock victim; lock request timed out
# NTSTATUS of an SMB answer that no wait changes: bad share name, share not found (Samba's
# answer through a DFS referral), access denied, logon failure, account restriction / disabled /
# locked out / expired, password expired.
_SMB_LASTING_STATUS = (0xC00000CC, 0xC0000225, 0xC0000022, 0xC000006D, 0xC000006E, 0xC0000072, 0xC0000234,
                       0xC0000193, 0xC0000071)  # fmt: skip
_SMB_LASTING_TYPES = ("SMBAuthenticationError", "SMBUnsupportedFeature")
_UNKNOWN_HOST_TEXTS = ("name or service not known", "nodename nor servname", "no address associated")


class LastingError(Exception):
    """An error this package raises knowing that waiting will not heal it (e.g. an SMB1 server)."""


def _sql_error(error: BaseException) -> tuple[int | None, str] | None:
    """(number, message) of a pymssql error; None for any other exception."""
    if type(error).__module__.split(".")[0] != "pymssql":
        return None
    args = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], tuple) else error.args
    number = args[0] if args and isinstance(args[0], int) else None
    text = args[1] if len(args) > 1 else (args[0] if args else "")
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return number, str(text)


def describe(error: BaseException) -> str:
    """The error's own words: for pymssql, its server and DB-Lib messages without the noise
    (the number pymssql puts first can be stale from an earlier connection: left out)."""
    sql = _sql_error(error)
    if sql is None:
        return str(error) or type(error).__name__
    lines = []
    for line in re.split(r"DB-Lib error message \d+, severity \d+:|\n", sql[1]):
        line = line.strip()
        if line and not line.startswith("General SQL Server error") and line not in lines:
            lines.append(line)
    return " ".join(lines) or type(error).__name__


def waiting_heals(error: BaseException) -> bool:
    """True when `error` may pass on its own (poke again); False when it needs a person."""
    if isinstance(error, LastingError):
        return False
    sql = _sql_error(error)
    if sql is not None:
        number, text = sql
        return number in _SQL_TRANSIENT_NUMBERS or any(t in text.lower() for t in _SQL_TRANSIENT_TEXTS)
    if type(error).__module__.startswith("smbprotocol."):
        status = getattr(error, "ntstatus", None) or getattr(error, "status", None)
        return status not in _SMB_LASTING_STATUS and type(error).__name__ not in _SMB_LASTING_TYPES
    text = str(error).lower()
    if isinstance(error, ValueError) and text.startswith("failed to connect to"):
        # smbprotocol's connect error: the socket's own reason follows
        return not any(t in text for t in _UNKNOWN_HOST_TEXTS)
    if isinstance(error, PermissionError):
        return False
    return isinstance(error, OSError)  # ConnectionError, TimeoutError, socket errors
