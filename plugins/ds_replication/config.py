"""The estate: master, slaves and what each slave takes, from one YAML file.

Every problem in a file is reported at once, one line each, with its place in the file
(`slaves[1].folders[0].name (line 54): ...`). Secrets never belong here: unknown keys (a
`password` among them) are errors. Nothing is read at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from ds_replication.cmd_quote import unsafe_character

DEFAULT_CONFIG = Path(__file__).parents[2] / "include" / "config" / "replication.yaml"
CONFIG_ENV = "DS_REPLICATION_CONFIG"
DEFAULT_DS_PATH = r"C:\Program Files\Altiris\eXpress\Deployment Server"
# The schedule presets Airflow itself knows (airflow.utils.dates.cron_presets, @once, @continuous).
AIRFLOW_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
)
CONN_KINDS = ("winrm", "mssql", "smb")

# At most 63 characters, so `replicate_<name>` stays far inside Airflow's 250 for a dag_id.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_CONN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
# A subset of what sql.quote_name accepts, so a valid file never fails later in the SQL.
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SHARE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_$-]{0,79}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*")
_WINDOWS_PATH = re.compile(r"[A-Za-z]:\\[^\"%!^&<>|\x00-\x1f\x7f]*")
_FOLDER_FORBIDDEN = "/:*?<>|"  # cannot be part of a DS job folder name


class ConfigError(ValueError):
    """An estate file that cannot be used; the message lists every problem, one per line."""


# --- checks, one per kind of value -------------------------------------------------------


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a safe name: use 1 to 63 ASCII letters, digits, '_', '-' or '.', "
            "starting with a letter, digit or '_'"
        )
    return value


def _conn_id(value: str) -> str:
    if not _CONN_ID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid connection id: use up to 200 ASCII letters, digits, '_', '-' or '.'"
        )
    return value


def _ds_path(value: str) -> str:
    if not _WINDOWS_PATH.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an absolute Windows path (X:\\...) free of '\"', '%', '!', '^', '&', "
            "'<', '>', '|' and control characters"
        )
    return value


def _database(value: str) -> str:
    if not _DATABASE.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain SQL database name (letters, digits, '_'; no spaces)")
    return value


def _share(value: str) -> str:
    if not _SHARE.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain share name (letters, digits, '_', '-', '$')")
    return value


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


def _schedule(value: str | None) -> str | None:
    if value is None:  # manual runs only
        return value
    if value.startswith("@"):
        if value not in AIRFLOW_PRESETS:
            raise ValueError(f"{value!r} is not an Airflow preset ({', '.join(sorted(AIRFLOW_PRESETS))})")
        return value
    from croniter import croniter  # what Airflow's cron timetables validate with

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression of 5 fields (minute hour day month weekday)")
    return value


def _repeated_folder(names: list[Any]) -> str | None:
    """Why a folder list names a folder twice (case does not count), or None."""
    first: dict[str, int] = {}
    for n, name in enumerate(names):
        if isinstance(name, str):
            if name.lower() in first:
                return f"{name!r} is listed twice, as [{first[name.lower()]}] and [{n}] (case does not count)"
            first[name.lower()] = n
    return None


def _unique_folders(value: list[Folder]) -> list[Folder]:
    problem = _repeated_folder([folder.name for folder in value])
    if problem:
        raise ValueError(problem)
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address (name@domain)")
    return value


# Each value's type carries its check, so a value is checked where it is written (defaults,
# a slave) and every problem of a file is found in one pass.
Name = Annotated[str, AfterValidator(_name)]
ConnId = Annotated[str, AfterValidator(_conn_id)]
Schedule = Annotated[str | None, AfterValidator(_schedule)]
Email = Annotated[str, AfterValidator(_email)]
Minutes = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    # strict: YAML already gives typed values, so "2" for a number or "no" for a flag is a mistake
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Folder(_Model):
    name: Annotated[str, AfterValidator(_folder_name)]  # path from the root of the job tree, "\" between levels
    subfolders: bool = True  # axexport /s


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
    # the whole run (dagrun_timeout); null: one try of every step at its bound, added up
    run_timeout_minutes: Minutes | None = None
    alert_emails: list[Email] = []
    smtp_conn_id: ConnId = "smtp_default"
    alert_from: Email = "airflow@localhost"
    enabled: bool = True


SETTING_NAMES = tuple(SlaveSettings.model_fields)

# Every SlaveSettings key with its checks, optional: a key left out is inherited. A key written
# as null is not left out: `schedule: null` means manual runs only.
SettingsOverride = create_model(
    "SettingsOverride",
    __base__=_Model,
    **{
        name: (Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation, None)
        for name, field in SlaveSettings.model_fields.items()
    },
)


class Host(_Model):
    """A Deployment Server: its Airflow connections, install folder, database and share."""

    name: Name
    # "" only until _default_conn_ids fills ds_<name>_<kind> in; never seen on a valid Host
    winrm_conn_id: ConnId = ""
    mssql_conn_id: ConnId = ""
    smb_conn_id: ConnId = ""
    ds_path: Annotated[str, AfterValidator(_ds_path)] = DEFAULT_DS_PATH
    database: Annotated[str, AfterValidator(_database)] = "express"
    share: Annotated[str, AfterValidator(_share)] = "express"

    @model_validator(mode="before")
    @classmethod
    def _default_conn_ids(cls, data: Any) -> Any:
        # Only from a valid name: a bad one is reported once, not again in three derived ids.
        if isinstance(data, dict) and isinstance(data.get("name"), str) and _NAME.fullmatch(data["name"]):
            defaults = {f"{kind}_conn_id": f"ds_{data['name']}_{kind}" for kind in CONN_KINDS}
            return {**defaults, **data}
        return data

    def conn_ids(self) -> dict[str, str]:
        """{"winrm": id, "mssql": id, "smb": id}."""
        return {kind: getattr(self, f"{kind}_conn_id") for kind in CONN_KINDS}


class Master(Host):
    export_slots: Annotated[int, Field(ge=1)] = 2

    @property
    def export_pool(self) -> str:
        """The Airflow pool that bounds concurrent exports on this master."""
        return f"ds_export_{self.name}"


class Slave(SettingsOverride, Host):  # type: ignore[misc,valid-type]
    """A slave: where it is, and any setting it does differently from `defaults`."""


# The steps of a run, in order (the factory builds one task of each).
STEP_IDS = (
    "preflight",
    "export_jobs",
    "wait_for_export",
    "copy_to_slave",
    "backup_history",
    "wait_for_backup",
    "import_jobs",
    "wait_for_import",
    "restore_history",
    "verify_history",
    "cleanup",
)
# Beyond its remote commands, a step that runs them opens SQL and SMB connections and lists
# files: a few minutes at most.
COMMAND_TASK_MARGIN_MINUTES = 5


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

    def remote_commands(self) -> dict[str, int]:
        """How many remote commands, each bounded by command_timeout_minutes, a step may run
        one after the other (for every configured folder; a manual run takes fewer)."""
        folders = len(self.folders)
        # import_jobs: the wait for an aximport left running, then per folder the export of the
        # slave's own jobs and the import
        return {"export_jobs": folders, "import_jobs": 1 + 2 * folders}

    def task_minutes(self, task_id: str) -> float:
        """The step's execution timeout: a step that runs remote commands gets room for all of
        them (commands x command_timeout_minutes + a margin), a sensor its sensor timeout,
        every other step task_timeout_minutes."""
        commands = self.remote_commands().get(task_id)
        if commands is not None:
            return commands * self.command_timeout_minutes + COMMAND_TASK_MARGIN_MINUTES
        if task_id.startswith("wait_for_"):
            return self.sensor_timeout_minutes
        return self.task_timeout_minutes

    def steps_minutes(self) -> float:
        """One try of every step, each at its bound: longer than that, a run is stuck (a task
        never scheduled for a missing pool, a hung step) or failing over and over."""
        return sum(self.task_minutes(step) for step in STEP_IDS)

    def run_minutes(self) -> float:
        """The run's bound (dagrun_timeout): run_timeout_minutes, else steps_minutes()."""
        return self.run_timeout_minutes if self.run_timeout_minutes is not None else self.steps_minutes()


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
        """Every slave with its effective settings, in file order."""
        return [
            SlaveConfig(
                **self.settings(n).model_dump(),
                **slave.model_dump(include=set(Host.model_fields)),
            )
            for n, slave in enumerate(self.slaves)
        ]


# --- checks across entries ---------------------------------------------------------------
# Read from the raw mapping, so that they are reported even when an entry has other problems.

Problem = tuple[tuple, str]  # (place in the file as a pydantic-style loc, what is wrong)


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _entries(data: dict) -> list[tuple[tuple, dict]]:
    """(loc, mapping) of the master and of each slave."""
    slaves = data.get("slaves") if isinstance(data.get("slaves"), list) else []
    return [(("master",), _mapping(data.get("master")))] + [
        (("slaves", n), _mapping(slave)) for n, slave in enumerate(slaves)
    ]


def _name_and_conn_clashes(data: dict) -> list[Problem]:
    """A name or an Airflow connection used by two hosts: the same server replicated onto itself."""
    problems: list[Problem] = []
    name_owner: dict[str, str] = {}
    conn_owner: dict[str, str] = {}
    for loc, entry in _entries(data):
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        if name.lower() in name_owner:
            owner = name_owner[name.lower()]
            problems.append(((*loc, "name"), f"{name!r} is already the name of {owner} (case does not count)"))
        name_owner.setdefault(name.lower(), _path(loc))
        for kind in CONN_KINDS:
            conn = entry.get(f"{kind}_conn_id", f"ds_{name}_{kind}")
            if isinstance(conn, str) and conn in conn_owner:
                message = f"{conn!r} is already the connection of {conn_owner[conn]}; each host needs its own"
                problems.append(((*loc, f"{kind}_conn_id"), message))
            conn_owner.setdefault(conn, _path(loc))
    return problems


def _repeated_folders(data: dict) -> list[Problem]:
    blocks = [(("defaults",), _mapping(data.get("defaults"))), *_entries(data)[1:]]
    problems = []
    for loc, block in blocks:
        folders = block.get("folders")
        if isinstance(folders, list):
            problem = _repeated_folder([_mapping(folder).get("name") for folder in folders])
            if problem:
                problems.append(((*loc, "folders"), problem))
    return problems


def _run_bounds(estate: Estate) -> list[Problem]:
    """A run bound shorter than one try of its steps would stop runs that are doing fine."""
    problems: list[Problem] = []
    for n, slave in enumerate(estate.slave_configs()):
        if slave.run_timeout_minutes is not None and slave.run_timeout_minutes < slave.steps_minutes():
            loc = ("slaves", n, "run_timeout_minutes")
            if "run_timeout_minutes" not in estate.slaves[n].model_fields_set:
                loc = ("defaults", "run_timeout_minutes")
            problems.append(
                (
                    loc,
                    f"{slave.run_timeout_minutes:g} minutes is less than one try of every step of slave "
                    f"{slave.name} ({slave.steps_minutes():g} minutes: export_jobs "
                    f"{slave.task_minutes('export_jobs'):g}, import_jobs {slave.task_minutes('import_jobs'):g}, "
                    "the others their own timeouts); leave it out to use that",
                )
            )
    return problems


# --- pydantic's errors in plain words ------------------------------------------------------

_PLAIN = {
    "missing": "required, but missing",
    "extra_forbidden": "unknown key (not allowed here; secrets belong in Airflow connections)",
    "too_short": "needs at least one entry",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
}
_BOUNDS = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
}


def _plain(error: dict) -> Problem:
    kind = error["type"]
    if kind in _BOUNDS:
        bounds = {k: f"{v:g}" if isinstance(v, float) else v for k, v in error.get("ctx", {}).items()}
        message = _BOUNDS[kind].format(**bounds) + f", not {error['input']!r}"
    elif kind in _PLAIN:
        message = _PLAIN[kind]
        if kind.endswith("_type"):
            message += f", not {error['input']!r}"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return error["loc"], message


# --- reading YAML, with the line of every node ---------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _path(loc: tuple) -> str:
    """("slaves", 1, "name") -> "slaves[1].name"."""
    out = ""
    for part in loc:
        out = out + f"[{part}]" if isinstance(part, int) else _join(out, str(part))
    return out or "(top level)"


def _duplicate_keys(node: yaml.Node, loc: tuple = ()) -> list[Problem]:
    """Keys written twice in one mapping (YAML would silently keep the last)."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    line = key.start_mark.line + 1
                    problems.append(((*loc, key.value), f"key written twice (again on line {line})"))
                seen.add(key.value)
                problems += _duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*loc, n))
    return problems


def _line_of(root: yaml.Node, loc: tuple) -> int:
    """The line of the key or item at `loc`, or of the deepest part of `loc` that is in the file."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not found:
                break
            key, node = found[0]
            line = key.start_mark.line + 1  # a block value starts on the line after its key
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _read_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        duplicates = _duplicate_keys(root)
        if duplicates:
            raise ConfigError(_report(source, duplicates, root))
        return loader.construct_document(root), root
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    finally:
        loader.dispose()


def _report(source: str, problems: list[Problem], root: yaml.Node) -> str:
    """One line per problem, in file order, each with its path and line."""
    lines = sorted({(_line_of(root, loc), _path(loc), message) for loc, message in problems})
    return f"{source}: {len(lines)} problem(s):\n" + "\n".join(
        f"  {path} (line {line}): {message}" for line, path, message in lines
    )


# --- the public functions -------------------------------------------------------------------


def parse_estate(text: str, source: str = "<string>") -> Estate:
    """The estate in `text` (YAML); ConfigError listing every problem."""
    data, root = _read_yaml(text, source)
    if not isinstance(data, dict) or root is None:
        raise ConfigError(
            f"{source}: the top level must be a mapping with the keys master, slaves and (optional) defaults"
        )
    problems: list[Problem] = []
    try:
        estate = Estate.model_validate(data)
        problems += _run_bounds(estate)
    except ValidationError as error:
        problems += [_plain(e) for e in error.errors()]
    problems += _name_and_conn_clashes(data) + _repeated_folders(data)
    if problems:
        raise ConfigError(_report(source, problems, root))
    return estate


def config_path(path: str | Path | None = None) -> Path:
    """`path`, else $DS_REPLICATION_CONFIG, else the repository's include/config/replication.yaml."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_estate(path: str | Path | None = None) -> Estate:
    """The estate from `path`, else $DS_REPLICATION_CONFIG, else include/config/replication.yaml."""
    source = config_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{source}: cannot read the estate file: {reason}") from None
    return parse_estate(text, str(source))
