"""SQL functions the translated statements call: T-SQL arithmetic, CAST, GETDATE, catalog ids.

SQLite reports an exception raised in a function only as "user-defined function raised
exception"; `FunctionErrors` keeps the SqlError itself so the session can report it.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.lab.tsql import catalog, server
from tests.lab.tsql.errors import SqlError, conversion_failed, divide_by_zero, null_not_allowed
from tests.lab.tsql.results import (
    INTEGER_TYPES,
    STRING_TYPES,
    TEXT_TYPES,
    format_datetime,
    parse_datetime,
    to_datetime_text,
    to_int,
)

# CONVERT styles that give ISO text (the lab stores datetimes as ISO text).
DATETIME_STYLES = {
    20: "%Y-%m-%d %H:%M:%S",
    120: "%Y-%m-%d %H:%M:%S",
    21: "%Y-%m-%d %H:%M:%S.{ms}",
    121: "%Y-%m-%d %H:%M:%S.{ms}",
    23: "%Y-%m-%d",
    126: "%Y-%m-%dT%H:%M:%S.{ms}",
}


class FunctionErrors:
    """The last SqlError a function raised on one connection."""

    def __init__(self) -> None:
        self.last: SqlError | None = None

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def call(*args: Any) -> Any:
            try:
                return function(*args)
            except SqlError as error:
                self.last = error
                raise

        return call

    def take(self) -> SqlError | None:
        error, self.last = self.last, None
        return error


def _number(value: Any, target: str = "int") -> int | float:
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise conversion_failed(value, "nvarchar", target) from None


def add(a: Any, b: Any) -> Any:
    """T-SQL `+`: concatenation of two strings, otherwise addition (strings converted)."""
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, bytes) and isinstance(b, bytes):
        return a + b
    return _number(a) + _number(b)


def divide(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    a, b = _number(a), _number(b)
    if b == 0:
        raise divide_by_zero()
    if isinstance(a, int) and isinstance(b, int):
        quotient = abs(a) // abs(b)  # T-SQL integer division truncates toward zero
        return quotient if (a < 0) == (b < 0) else -quotient
    return a / b


def modulo(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    a, b = _number(a), _number(b)
    if b == 0:
        raise divide_by_zero()
    result = abs(a) % abs(b)  # the sign follows the dividend, as in T-SQL
    return -result if a < 0 else result


def length(value: Any) -> int | None:
    """LEN: characters without trailing blanks."""
    return None if value is None else len(str(value).rstrip(" "))


def getdate() -> str:
    return format_datetime(dt.datetime.now())


def getutcdate() -> str:
    return format_datetime(dt.datetime.now(dt.UTC).replace(tzinfo=None))


def cast(
    value: Any, target: str, size: int | None, style: int | None, source: str | None, dateformat: str = "mdy"
) -> Any:
    """CAST / CONVERT to `target`; `source` is the T-SQL type of the value when known; a string
    becomes a datetime under the session's `dateformat` (results.read_datetime)."""
    if value is None:
        return None
    if target in INTEGER_TYPES:
        if isinstance(value, str) and source == "datetime":
            raise SqlError(529, f"Explicit conversion from data type datetime to {target} is not allowed.")
        return to_int(value, target)
    if target == "bit":
        if isinstance(value, str):
            if value.strip().lower() in ("true", "false"):
                return int(value.strip().lower() == "true")
            return int(to_int(value, "bit") != 0)
        return int(bool(value))
    if target == "float":
        return float(_number(value, "float"))
    if target == "decimal":
        return float(Decimal(str(_number(value, "numeric"))))
    if target == "datetime":
        return to_datetime_text(value, dateformat, source)
    if target in STRING_TYPES:
        if source == "datetime":
            parsed = parse_datetime(str(value))
            pattern = DATETIME_STYLES[style or 121]
            text = (
                parsed.strftime(pattern).replace("{ms}", f"{parsed.microsecond // 1000:03d}") if parsed else str(value)
            )
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value)) if source in INTEGER_TYPES else repr(value)
        else:
            text = value if isinstance(value, str) else str(value)
        return text if size is None else text[:size]  # size None: (max); a type without a length is 30
    if target in TEXT_TYPES:
        return value if isinstance(value, str) else str(value)
    if target in ("varbinary", "image"):
        return _binary(value, size, source)
    raise SqlError(50001, f"DS lab: unsupported T-SQL: CAST to {target}. The lab runs a declared subset only.")


def _binary(value: Any, size: int | None, source: str | None) -> bytes:
    """CAST to varbinary: the bytes of a binary value, of a string in its own encoding."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str):
        data = value.encode("utf-16-le" if source in ("nchar", "nvarchar", "ntext") else "cp1252", "replace")
    else:
        raise SqlError(50001, "DS lab: unsupported T-SQL: CAST of a number to varbinary. The lab runs a declared "
                       "subset only.")  # fmt: skip
    return data if size is None else data[:size]


def store(
    value: Any,
    kind: str,
    size: int | None,
    nullable: int,
    column: str,
    table: str,
    verb: str,
    source: str | None = None,
    dateformat: str = "mdy",
) -> Any:
    """A value written into a column: NULL check, type conversion (a string into a datetime under
    the session's DATEFORMAT; `source`: the value's T-SQL type when known), truncation check."""
    if value is None:
        if not nullable:
            raise null_not_allowed(table, column, verb)
        return None
    if kind == "datetime":
        return to_datetime_text(value, dateformat, source)
    if kind in INTEGER_TYPES:
        return to_int(value, kind)
    if kind == "bit":
        return cast(value, "bit", None, None, None)
    if kind in TEXT_TYPES:
        return value if isinstance(value, str) else cast(value, kind, None, None, None)
    if kind == "image":
        return _binary(value, None, None)
    if kind in STRING_TYPES:
        text = value if isinstance(value, str) else cast(value, kind, 8000, None, None)
        if size is not None and len(text) > size:
            raise SqlError(8152, "String or binary data would be truncated.")
        return text
    return value


def register(db: sqlite3.Connection, errors: FunctionErrors, dateformat: Callable[[], str] = lambda: "mdy") -> None:
    """The lab_* functions on one session's connection; `dateformat` gives the session's
    DATEFORMAT at the time of the call (SET DATEFORMAT / SET LANGUAGE change it mid-session)."""
    plain: dict[str, tuple[int, Callable[..., Any], bool]] = {
        "lab_add": (2, add, True),
        "lab_div": (2, divide, True),
        "lab_mod": (2, modulo, True),
        "lab_len": (1, length, True),
        "lab_getdate": (0, getdate, False),
        "lab_getutcdate": (0, getutcdate, False),
        "lab_cast": (5, lambda *a: cast(*a, dateformat=dateformat()), True),
        "lab_store": (8, lambda *a: store(*a, dateformat=dateformat()), True),
        "lab_object_id": (1, catalog.object_id, True),
        "lab_object_name": (1, catalog.object_name, True),
        "lab_type_id": (1, lambda t: catalog.TYPES.get(t, (0, 0))[0], True),
        "lab_max_length": (2, catalog.max_length, True),
        "lab_precision": (2, lambda t, scale: catalog.PRECISION.get(t, (0, 0))[scale], True),
    }
    for name, (arity, function, deterministic) in plain.items():
        db.create_function(name, arity, errors.wrap(function), deterministic=deterministic)
    # the host's facts, read when asked: `python -m tests.lab server` changes them while it runs
    db.create_function("lab_serverproperty", 1, errors.wrap(lambda name: server.server_property(db, name)))
