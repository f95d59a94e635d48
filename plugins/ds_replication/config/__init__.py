"""The estate: master, slaves and what each slave takes, from one YAML file.

Every problem in a file is reported at once, one line each, with its place in the file
(`slaves[1].folders[0].name (line 54): ...`). Secrets never belong here: unknown keys (a
`password` among them) are errors. Nothing is read at import time.

- fields: the check of each kind of value (names, connection ids, paths, schedules, ...);
- schema: the models (Estate, Master, Slave, SlaveConfig) and the run's time bounds;
- source: YAML with the line of every node, duplicate keys, problems in plain words;
- checks: checks across entries (clashing names and connections, repeated folders, run bounds);
- loading: parse_estate and load_estate, which run all of the above.
"""

from ds_replication.config.fields import (
    AIRFLOW_PRESETS,
    CONN_KINDS,
    DEFAULT_DS_PATH,
    ConnId,
    Email,
    Minutes,
    Name,
    Schedule,
)
from ds_replication.config.loading import CONFIG_ENV, DEFAULT_CONFIG, config_path, load_estate, parse_estate
from ds_replication.config.schema import (
    COMMAND_TASK_MARGIN_MINUTES,
    SETTING_NAMES,
    STEP_IDS,
    Estate,
    Folder,
    Folders,
    Host,
    Master,
    Retention,
    Slave,
    SlaveConfig,
    SlaveSettings,
)
from ds_replication.config.source import ConfigError, Problem

__all__ = [
    "AIRFLOW_PRESETS",
    "COMMAND_TASK_MARGIN_MINUTES",
    "CONFIG_ENV",
    "CONN_KINDS",
    "DEFAULT_CONFIG",
    "DEFAULT_DS_PATH",
    "SETTING_NAMES",
    "STEP_IDS",
    "ConfigError",
    "ConnId",
    "Email",
    "Estate",
    "Folder",
    "Folders",
    "Host",
    "Master",
    "Minutes",
    "Name",
    "Problem",
    "Retention",
    "Schedule",
    "Slave",
    "SlaveConfig",
    "SlaveSettings",
    "config_path",
    "load_estate",
    "parse_estate",
]
