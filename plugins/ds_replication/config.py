"""The estate: master, slaves and what each slave takes, from one YAML file.

Every problem in a file is reported at once, one line each, with its place in the file
(`slaves[1].folders[0].name: ...`). Secrets never belong here: unknown keys (a `password`
among them) are errors. Nothing is read at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from ds_replication.cmd_quote import unsafe_character

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "include" / "config" / "replication.yaml"
DEFAULT_DS_PATH = r"C:\Program Files\Altiris\eXpress\Deployment Server"
AIRFLOW_PRESETS = {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@continuous"}

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$")
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SHARE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_$-]{0,79}$")
_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+$")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\[^\"%!^&<>|\x00-\x1f]*$")
_FOLDER_FORBIDDEN = set("/:*?<>|")  # not allowed in a DS job folder name


class ConfigError(ValueError):
    """An estate file that cannot be used; the message lists every problem, one per line."""


# --- checks, one per kind of value -------------------------------------------------------


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a safe name: use 1-63 letters, digits, '_', '-' or '.', "
            "starting with a letter, digit or '_'"
        )
    return value


def _conn_id(value: str) -> str:
    if not _CONN_ID.match(value):
        raise ValueError(f"{value!r} is not a valid connection id: use letters, digits, '_', '-' or '.'")
    return value


def _ds_path(value: str) -> str:
    if not _WINDOWS_PATH.match(value):
        raise ValueError(
            f"{value!r} is not an absolute Windows path without '\"', '%', '!', '^', '&', '<', '>', '|'"
        )
    return value


def _database(value: str) -> str:
    if not _DATABASE.match(value):
        raise ValueError(f"{value!r} is not a plain SQL database name (letters, digits, '_')")
    return value


def _share(value: str) -> str:
    if not _SHARE.match(value):
        raise ValueError(f"{value!r} is not a plain share name (letters, digits, '_', '-', '$')")
    return value


def _folder_name(value: str) -> str:
    if not value or len(value) > 255:
        raise ValueError("must be 1 to 255 characters")
    problem = unsafe_character(value)
    if problem:
        raise ValueError(f"contains {problem}, which cannot be passed safely to cmd.exe; not allowed")
    bad = sorted(set(value) & _FOLDER_FORBIDDEN)
    if bad:
        raise ValueError(f"contains {''.join(bad)!r}, not allowed in a DS folder name")
    for level in value.split("\\"):
        if not level:
            raise ValueError(r"has an empty level (a leading, trailing or doubled '\')")
        if level in (".", ".."):
            raise ValueError(f"has a {level!r} level")
        if level != level.strip():
            raise ValueError(f"level {level!r} starts or ends with a space")
    return value


def _schedule(value: str | None) -> str | None:
    if value is None:
        return value
    if value.startswith("@"):
        if value not in AIRFLOW_PRESETS:
            raise ValueError(f"{value!r} is not an Airflow preset ({', '.join(sorted(AIRFLOW_PRESETS))})")
        return value
    from croniter import croniter

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid 5-field cron expression")
    return value


def _unique_folders(value: list[Folder]) -> list[Folder]:
    names = [f.name.lower() for f in value]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"folder listed twice: {', '.join(duplicates)}")
    return value


def _emails(value: list[str]) -> list[str]:
    bad = [v for v in value if not _EMAIL.match(v)]
    if bad:
        raise ValueError(f"not an e-mail address: {', '.join(map(repr, bad))}")
    return value


def _email(value: str) -> str:
    _emails([value])
    return value


# Each value's type carries its check, so a value is checked where it is written (defaults,
# a slave) and every problem of a file is found in one pass.
Name = Annotated[str, AfterValidator(_name)]
ConnId = Annotated[str, AfterValidator(_conn_id)]
Schedule = Annotated[str | None, AfterValidator(_schedule)]
Emails = Annotated[list[str], AfterValidator(_emails)]
Email = Annotated[str, AfterValidator(_email)]
Minutes = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Folder(_Model):
    name: Annotated[str, AfterValidator(_folder_name)]  # path from the root, "\" between levels
    subfolders: bool = True


Folders = Annotated[list[Folder], Field(min_length=1), AfterValidator(_unique_folders)]


class SlaveSettings(_Model):
    """What each slave takes; the `defaults` block and each slave may set any of it."""

    schedule: Schedule = "0 2 * * *"
    folders: Folders = [Folder(name="Global")]
    restore_changed_jobs: bool = True
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    retry_delay_minutes: Minutes = 5
    command_timeout_minutes: Minutes = 60
    task_timeout_minutes: Minutes = 90
    sensor_poke_seconds: Annotated[float, Field(gt=0)] = 30
    sensor_timeout_minutes: Minutes = 30
    alert_emails: Emails = []
    smtp_conn_id: ConnId = "smtp_default"
    alert_from: Email = "airflow@localhost"
    enabled: bool = True


SETTING_NAMES = tuple(SlaveSettings.model_fields)

# Every SlaveSettings key with its checks, optional: a key left out is inherited.
SettingsOverride = create_model(
    "SettingsOverride",
    __base__=_Model,
    **{
        name: (Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation, None)
        for name, field in SlaveSettings.model_fields.items()
    },
)


class Host(_Model):
    name: Name
    winrm_conn_id: ConnId | None = None
    mssql_conn_id: ConnId | None = None
    smb_conn_id: ConnId | None = None
    ds_path: Annotated[str, AfterValidator(_ds_path)] = DEFAULT_DS_PATH
    database: Annotated[str, AfterValidator(_database)] = "express"
    share: Annotated[str, AfterValidator(_share)] = "express"

    def conn_id(self, kind: str) -> str:
        """The connection id for `winrm`, `mssql` or `smb`: as configured, else ds_<name>_<kind>."""
        return getattr(self, f"{kind}_conn_id") or f"ds_{self.name.lower()}_{kind}"


class Master(Host):
    export_slots: Annotated[int, Field(ge=1, le=64)] = 2

    @property
    def export_pool(self) -> str:
        """The Airflow pool that bounds concurrent exports on this master."""
        return f"ds_export_{self.name.lower()}"


class Slave(SettingsOverride, Host):  # type: ignore[misc,valid-type]
    """A slave: where it is, and any setting it does differently from `defaults`."""


class SlaveConfig(SlaveSettings):
    """One slave with every setting resolved: what its DAG is built from."""

    name: str
    winrm_conn_id: str
    mssql_conn_id: str
    smb_conn_id: str
    ds_path: str
    database: str
    share: str

    @property
    def dag_id(self) -> str:
        return f"replicate_{self.name}"


class Estate(_Model):
    defaults: SettingsOverride = SettingsOverride()  # type: ignore[valid-type]
    master: Master
    slaves: Annotated[list[Slave], Field(min_length=1)]  # type: ignore[valid-type]

    def settings(self, index: int) -> SlaveSettings:
        """Slave `index`'s settings: its own value, else the defaults block's, else the built-in."""
        slave = self.slaves[index]
        values = {}
        for name in SETTING_NAMES:
            if name in slave.model_fields_set:
                values[name] = getattr(slave, name)
            elif name in self.defaults.model_fields_set:
                values[name] = getattr(self.defaults, name)
        return SlaveSettings.model_validate(values)

    def slave_configs(self) -> list[SlaveConfig]:
        return [
            SlaveConfig(
                **self.settings(n).model_dump(),
                name=slave.name,
                winrm_conn_id=slave.conn_id("winrm"),
                mssql_conn_id=slave.conn_id("mssql"),
                smb_conn_id=slave.conn_id("smb"),
                ds_path=slave.ds_path,
                database=slave.database,
                share=slave.share,
            )
            for n, slave in enumerate(self.slaves)
        ]


# --- reporting ---------------------------------------------------------------------------

_PLAIN = {
    "missing": "required, but missing",
    "extra_forbidden": "unknown key (not allowed here; secrets belong in Airflow connections)",
    "too_short": "needs at least one entry",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
}


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "constrained-")):
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _problem(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        message = message.replace("Input should be", "must be")
    else:
        message = _PLAIN.get(error["type"], message)
    return f"{_path(error['loc'])}: {message}"


def _name_clashes(data: dict) -> list[str]:
    """Slave names used twice or equal to the master's (case does not make a name different)."""
    master = data.get("master")
    master_name = str(master.get("name", "")).lower() if isinstance(master, dict) else ""
    slaves = data.get("slaves") if isinstance(data.get("slaves"), list) else []
    problems, seen = [], {}
    for n, slave in enumerate(slaves):
        if not isinstance(slave, dict) or not isinstance(slave.get("name"), str):
            continue
        key = slave["name"].lower()
        if key == master_name:
            problems.append(f"slaves[{n}].name: {slave['name']!r} is the master's name")
        elif key in seen:
            problems.append(f"slaves[{n}].name: {slave['name']!r} is already the name of slaves[{seen[key]}]")
        seen.setdefault(key, n)
    return problems


def _merged_settings_problems(estate: Estate) -> list[str]:
    """What only a slave's merged settings show."""
    problems = []
    for n in range(len(estate.slaves)):
        settings = estate.settings(n)
        if settings.command_timeout_minutes >= settings.task_timeout_minutes:
            problems.append(
                f"slaves[{n}]: command_timeout_minutes ({settings.command_timeout_minutes:g}) must be less "
                f"than task_timeout_minutes ({settings.task_timeout_minutes:g}), or the task ends first"
            )
    return problems


def parse_estate(text: str, source: str = "<string>") -> Estate:
    """The estate in `text` (YAML); ConfigError listing every problem."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with master, slaves and defaults")
    try:
        estate = Estate.model_validate(data)
    except ValidationError as error:
        problems = [_problem(e) for e in error.errors()] + _name_clashes(data)
    else:
        problems = _name_clashes(data) + _merged_settings_problems(estate)
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems))
    return estate


def config_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("DS_REPLICATION_CONFIG") or DEFAULT_CONFIG)


def load_estate(path: str | Path | None = None) -> Estate:
    """The estate from `path`, else $DS_REPLICATION_CONFIG, else include/config/replication.yaml."""
    source = config_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{source}: cannot read the estate file: {error.strerror}") from None
    return parse_estate(text, str(source))
