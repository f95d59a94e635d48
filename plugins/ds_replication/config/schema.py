"""The estate's models: a master, its slaves, the settings each slave takes, and the run's
time bounds derived from them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ds_replication.config.fields import (
    CONN_KINDS,
    DEFAULT_DS_PATH,
    NAME_PATTERN,
    ConnId,
    Database,
    DsPath,
    Email,
    FolderName,
    Minutes,
    Name,
    Queue,
    Schedule,
    Share,
    unique_folders,
)


class _Model(BaseModel):
    # strict: YAML already gives typed values, so "2" for a number or "no" for a flag is a mistake
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Folder(_Model):
    name: FolderName  # path from the root of the job tree, "\" between levels
    subfolders: bool = True  # axexport /s


Folders = Annotated[list[Folder], Field(min_length=1), AfterValidator(unique_folders)]


class Retention(_Model):
    """How long a slave's job archives (the jobs it had before each import) and the rows of the
    history archive tables are kept: both count from the run that made them."""

    nights: Annotated[int, Field(ge=1, le=3650)] = 30  # archives younger than this many days stay
    min_archives: Annotated[int, Field(ge=1, le=1000)] = 5  # the newest archives stay, however old


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
    # a new DAG starts paused: a real estate is tried with a dry run before its first night
    paused_on_first_deploy: bool = True
    # the executor queue of every task of the slave's DAG (CeleryExecutor: the workers that
    # consume it, e.g. one near the slave's site); null: Airflow's [operators] default_queue
    queue: Queue | None = None
    # the slave's job archives and archive-table rows older than this go at the night's cleanup
    retention: Retention = Retention()
    # approve_changes: ask in Airflow's Required actions before an import overwrites or removes
    # jobs edited on the slave (on_local_changes), before every import (always), or never; no
    # answer within approval_timeout_minutes ends the run like a reject, with a mail
    approval: Literal["always", "on_local_changes", "never"] = "on_local_changes"
    approval_timeout_minutes: Minutes = 720


SETTING_NAMES = tuple(SlaveSettings.model_fields)


class Host(_Model):
    """A Deployment Server: its Airflow connections, install folder, database and share."""

    name: Name
    # "" only until _default_conn_ids fills ds_<name>_<kind> in; never seen on a valid Host
    winrm_conn_id: ConnId = ""
    mssql_conn_id: ConnId = ""
    smb_conn_id: ConnId = ""
    ds_path: DsPath = DEFAULT_DS_PATH
    database: Database = "express"
    share: Share = "express"

    @model_validator(mode="before")
    @classmethod
    def _default_conn_ids(cls, data: Any) -> Any:
        # Only from a valid name: a bad one is reported once, not again in three derived ids.
        if isinstance(data, dict) and isinstance(data.get("name"), str) and NAME_PATTERN.fullmatch(data["name"]):
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


class Slave(SlaveSettings, Host):
    """A slave: where it is, and any setting it does differently from `defaults`.

    A setting counts as set only when written (model_fields_set), so one left out is inherited
    from `defaults`; one written as null is set: `schedule: null` means manual runs only.
    """


# The steps of a run, in order (the factory builds one task of each).
STEP_IDS = (
    "preflight",
    "export_jobs",
    "wait_for_export",
    "copy_to_slave",
    "approve_changes",
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


def dag_id_of(slave_name: str) -> str:
    """The id of the DAG replicating slave `slave_name`."""
    return f"replicate_{slave_name}"


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
        return dag_id_of(self.name)

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

    def approval_wait_minutes(self) -> float:
        """How long a run may wait for the answer of approve_changes (not part of its execution)."""
        return 0 if self.approval == "never" else self.approval_timeout_minutes

    def steps_minutes(self) -> float:
        """One try of every step, each at its bound, and the wait for an approval: longer than
        that, a run is stuck (a task never scheduled for a missing pool, a hung step) or failing
        over and over."""
        return sum(self.task_minutes(step) for step in STEP_IDS) + self.approval_wait_minutes()

    def run_minutes(self) -> float:
        """The run's bound (dagrun_timeout): run_timeout_minutes, else steps_minutes()."""
        return self.run_timeout_minutes if self.run_timeout_minutes is not None else self.steps_minutes()


class Estate(_Model):
    defaults: SlaveSettings = SlaveSettings()  # only the keys written count (Estate.settings)
    master: Master
    slaves: Annotated[list[Slave], Field(min_length=1)]

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

    def slave_config(self, index: int) -> SlaveConfig:
        """Slave `index` with its effective settings."""
        return SlaveConfig(
            **self.settings(index).model_dump(),
            **self.slaves[index].model_dump(include=set(Host.model_fields)),
        )

    def slave_configs(self, dag_id: str | None = None) -> list[SlaveConfig]:
        """Every slave with its effective settings, in file order; with `dag_id`, only the slave
        of that DAG (a task start's parse: the estate was validated whole already)."""
        return [
            self.slave_config(n)
            for n, slave in enumerate(self.slaves)
            if dag_id is None or dag_id == dag_id_of(slave.name)
        ]
