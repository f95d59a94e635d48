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
TEXT_TYPES = ("text", "ntext")  # the LOB strings (catalog.LOB_TYPES): no length, no comparison
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


def to_datetime_text(value: Any) -> str | None:
    """A value stored into or compared as `datetime`: normalised ISO text."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            return format_datetime(parsed)
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
