"""Result sets as the TDS layer encodes them, and T-SQL values as Python values."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.lab.tsql.errors import SqlError, conversion_failed

# Column.type values the TDS layer knows.
RESULT_TYPES = frozenset(
    {
        "int",
        "bigint",
        "smallint",
        "tinyint",
        "bit",
        "float",
        "decimal",
        "nvarchar",
        "varchar",
        "datetime",
        "varbinary",
        "text",
        "ntext",
        "image",
    }
)
# Catalog type -> result type (the lab stores char/nchar too; the wire gets their var- forms).
RESULT_TYPE_OF = {"char": "varchar", "nchar": "nvarchar", "real": "float", "numeric": "decimal", "binary": "varbinary",
                  "timestamp": "varbinary"}  # fmt: skip
INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")
STRING_TYPES = ("char", "varchar", "nchar", "nvarchar")
TEXT_TYPES = ("text", "ntext")  # the LOB strings (history_table.LOB_TYPES): no length, no comparison
_DATETIME = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of RESULT_TYPES
    nullable: bool = True
    size: int | None = None


@dataclass
class ResultSet:
    columns: list[Column]
    rows: list[tuple]


def result_type(catalog_type: str) -> str:
    kind = RESULT_TYPE_OF.get(catalog_type, catalog_type)
    return kind if kind in RESULT_TYPES else "nvarchar"


def parse_datetime(value: str) -> dt.datetime | None:
    m = _DATETIME.match(value)
    if not m:
        return None
    year, month, day, hour, minute, second, fraction = m.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    return dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro)


def format_datetime(value: dt.datetime) -> str:
    """The lab's storage form of a datetime: SQL Server's 1/300 s precision kept as milliseconds."""
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


# SET DATEFORMAT's orders, and the order each SET LANGUAGE brings (sys.syslanguages.dateformat).
DATEFORMATS = ("mdy", "dmy", "ymd", "ydm", "myd", "dym")
LANGUAGE_DATEFORMAT = {"us_english": "mdy", "British": "dmy", "Deutsch": "dmy", "Français": "dmy"}
_TIME = r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?"
_ISO_8601 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$")
_UNSEPARATED = re.compile(r"^(\d{4})(\d{2})(\d{2})" + _TIME + "$")
_YEAR_FIRST = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME + "$")
_YEAR_LAST = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})" + _TIME + "$")
_STORED = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


def read_datetime(text: str, dateformat: str = "mdy", source: str = "varchar") -> dt.datetime:
    """A character string converted to datetime as SQL Server reads it (docs: "datetime
    (Transact-SQL)", "SET DATEFORMAT"): the ISO 8601 form with T and the unseparated
    'YYYYMMDD' the same under every DATEFORMAT and LANGUAGE; a numeric date with the year first
    read year-month-day under mdy/ymd/myd but year-DAY-month under dmy/ydm/dym (British, German,
    French); with the year last, month and day in DATEFORMAT's order. A string of another shape
    fails with Msg 241, a day or month that does not exist with Msg 242."""
    value = text.strip()
    month_first = dateformat.index("m") < dateformat.index("d")
    if (m := _ISO_8601.match(value)) or (m := _UNSEPARATED.match(value)):
        year, month, day, *clock = m.groups()
    elif m := _YEAR_FIRST.match(value):
        year, first, second, *clock = m.group(1, 3, 4, 5, 6, 7, 8)
        month, day = (first, second) if month_first else (second, first)
    elif m := _YEAR_LAST.match(value):
        first, second, year, *clock = m.group(1, 3, 4, 5, 6, 7, 8)
        month, day = (first, second) if month_first else (second, first)
        if len(year) == 2:  # two digit year cutoff 2049
            year = str((2000 if int(year) <= 49 else 1900) + int(year))
    else:
        raise SqlError(241, "Conversion failed when converting date and/or time from character string.")
    hour, minute, second, fraction = clock
    try:
        parsed = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                             int((fraction or "0").ljust(3, "0")) * 1000)  # fmt: skip
    except ValueError:
        parsed = None
    if parsed is None or parsed.year < 1753:
        kind = source if source in STRING_TYPES else "varchar"
        raise SqlError(242, f"The conversion of a {kind} data type to a datetime data type resulted in an "
                       "out-of-range value.")  # fmt: skip
    return parsed


def to_datetime_text(value: Any, dateformat: str = "mdy", source: str | None = None) -> str | None:
    """A value stored into or compared as `datetime`: the lab's storage text. A string read from a
    datetime column (`source` datetime) is in that form already; any other string is read as SQL
    Server reads a character string under the session's DATEFORMAT (read_datetime). When the
    source type is unknown, a string in the exact storage form is taken for a stored datetime."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, str):
        if source == "datetime" or (source is None and _STORED.match(value)):
            parsed = parse_datetime(value)
            if parsed is not None:
                return format_datetime(parsed)
        return format_datetime(read_datetime(value, dateformat, source or "varchar"))
    raise SqlError(241, "Conversion failed when converting date and/or time from character string.")


def to_int(value: Any, target: str = "int") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return int(value)  # T-SQL truncates toward zero
    try:
        return int(str(value).strip())
    except ValueError:
        raise conversion_failed(value, "nvarchar", target) from None


def to_python(value: Any, type_name: str) -> Any:
    """A value read from SQLite as the Python value of T-SQL type `type_name`."""
    if value is None:
        return None
    if type_name == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        return parsed if parsed is not None else value
    if type_name == "bit":
        return bool(value)
    if type_name in INTEGER_TYPES:
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if type_name == "float":
        return float(value) if isinstance(value, int | float) else value
    if type_name in ("decimal", "numeric"):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return value
    if type_name in STRING_TYPES or type_name in TEXT_TYPES:
        return value if isinstance(value, str) else str(value)
    if type_name == "timestamp" and isinstance(value, int):
        return value.to_bytes(8, "big")  # stored as the counter's value, sent as binary(8)
    if type_name in ("varbinary", "binary", "image"):
        return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value
    return value


def type_of_values(values: list[Any]) -> str:
    """The type of a column SQLite computed, when nothing else tells: from its values."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return "bit"
        if isinstance(value, int):
            return "int" if -(2**31) <= value < 2**31 else "bigint"
        if isinstance(value, float):
            return "float"
        if isinstance(value, bytes):
            return "varbinary"
        return "nvarchar"
    return "int"  # SELECT NULL is an int column in SQL Server
