"""The checks of single values, one per kind, and the types that carry them.

Each value's type carries its check, so a value is checked where it is written (defaults, a
slave) and every problem of a file is found in one pass.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ds_replication.cmd_quote import unsafe_character

DEFAULT_DS_PATH = r"C:\Program Files\Altiris\eXpress\Deployment Server"
# The schedule presets Airflow itself knows (airflow.utils.dates.cron_presets, @once, @continuous).
AIRFLOW_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
)
CONN_KINDS = ("winrm", "mssql", "smb")

# At most 63 characters, so `replicate_<name>` stays far inside Airflow's 250 for a dag_id.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_CONN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
# A Celery queue (a Redis key, a name in `airflow celery worker --queues a,b`): no ',' or space.
_QUEUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
# A subset of what sql.quote_name accepts, so a valid file never fails later in the SQL.
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SHARE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_$-]{0,79}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*")
_WINDOWS_PATH = re.compile(r"[A-Za-z]:\\[^\"%!^&<>|\x00-\x1f\x7f]*")
_FOLDER_FORBIDDEN = "/:*?<>|"  # cannot be part of a DS job folder name


def _matching(pattern: re.Pattern[str], problem: str) -> AfterValidator:
    """The check that `pattern` matches the whole value; else the error "'value' <problem>"."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} {problem}")
        return value

    return AfterValidator(check)


def _folder_name(value: str) -> str:
    if not 1 <= len(value) <= 255:
        raise ValueError(f"must be 1 to 255 characters long, not {len(value)}")
    problem = unsafe_character(value)
    if problem:
        raise ValueError(f"contains {problem}; not allowed")
    bad = [char for char in _FOLDER_FORBIDDEN if char in value]
    if bad:
        raise ValueError(f"contains {bad[0]!r}, which a DS folder name cannot have; not allowed")
    for level in value.split("\\"):
        if not level:
            raise ValueError(f"{value!r} has an empty level (a leading, trailing or doubled '\\')")
        if level in (".", ".."):
            raise ValueError(f"{value!r} has a {level!r} level; not allowed")
        if level != level.strip():
            raise ValueError(f"level {level!r} starts or ends with a space; not allowed")
    return value


@functools.lru_cache(maxsize=256)
def _valid_cron(value: str) -> bool:
    """Cron of 5 fields, checked once per distinct text: an estate repeats a few schedules over
    hundreds of slaves, and every task start reads the whole estate."""
    from croniter import croniter  # what Airflow's cron timetables validate with

    return len(value.split()) == 5 and croniter.is_valid(value)


def _schedule(value: str | None) -> str | None:
    if value is None:  # manual runs only
        return value
    if value.startswith("@"):
        if value not in AIRFLOW_PRESETS:
            raise ValueError(f"{value!r} is not an Airflow preset ({', '.join(sorted(AIRFLOW_PRESETS))})")
        return value
    if not _valid_cron(value):
        raise ValueError(f"{value!r} is not a valid cron expression of 5 fields (minute hour day month weekday)")
    return value


def repeated_folder(names: list[Any]) -> str | None:
    """Why a folder list names a folder twice (case does not count), or None."""
    first: dict[str, int] = {}
    for n, name in enumerate(names):
        if isinstance(name, str):
            if name.lower() in first:
                return f"{name!r} is listed twice, as [{first[name.lower()]}] and [{n}] (case does not count)"
            first[name.lower()] = n
    return None


def unique_folders(value: list[Any]) -> list[Any]:
    problem = repeated_folder([folder.name for folder in value])
    if problem:
        raise ValueError(problem)
    return value


Name = Annotated[
    str,
    _matching(
        NAME_PATTERN,
        "is not a safe name: use 1 to 63 ASCII letters, digits, '_', '-' or '.', starting with a letter, digit or '_'",
    ),
]
ConnId = Annotated[
    str, _matching(_CONN_ID, "is not a valid connection id: use up to 200 ASCII letters, digits, '_', '-' or '.'")
]
Queue = Annotated[
    str,
    _matching(
        _QUEUE,
        "is not a valid queue name: use up to 200 ASCII letters, digits, '_', '-' or '.', "
        "starting with a letter, digit or '_' (no ',' or spaces: workers list queues with commas)",
    ),
]
Schedule = Annotated[str | None, AfterValidator(_schedule)]
Email = Annotated[str, _matching(_EMAIL, "is not an e-mail address (name@domain)")]
Minutes = Annotated[float, Field(gt=0)]
FolderName = Annotated[str, AfterValidator(_folder_name)]
DsPath = Annotated[
    str,
    _matching(
        _WINDOWS_PATH,
        "is not an absolute Windows path (X:\\...) free of '\"', '%', '!', '^', '&', "
        "'<', '>', '|' and control characters",
    ),
]
Database = Annotated[str, _matching(_DATABASE, "is not a plain SQL database name (letters, digits, '_'; no spaces)")]
Share = Annotated[str, _matching(_SHARE, "is not a plain share name (letters, digits, '_', '-', '$')")]
