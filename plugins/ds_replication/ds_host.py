"""`DsHost`: one Deployment Server (the master or a slave) and what the replication does on it.

Built from the validated config entry; it holds only names (connection ids, share, database,
DS folder), so an operator that takes one stays a plain, re-buildable object. Its three hooks
are made when a step needs them: SQL (`DsDatabaseHook`), cmd.exe over WinRM (`DsShellHook`)
and the DS folder's share (`DsShareHook`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowException, AirflowFailException
from pymssql import Connection

from ds_replication import host_checks
from ds_replication.config import Master, SlaveConfig
from ds_replication.ds_tools import axexport_command, aximport_command, check_export_count
from ds_replication.exit_codes import failure_text
from ds_replication.hooks.database import DsDatabaseHook
from ds_replication.job_folders import folder_job_counts, folder_job_names
from ds_replication.sql_server import SqlServer

if TYPE_CHECKING:  # the WinRM and SMB clients are imported by the task that uses them: a task start parses
    # the DAG file, and importing both there cost every task about 0.15 s of CPU (docs/performance.md)
    from ds_replication.hooks.share import DsShareHook
    from ds_replication.hooks.shell import CommandResult, DsShellHook

# A folder of a run: {"name": "Global", "subfolders": True} (JSON: it travels in XCom)
JobFolder = dict[str, Any]
IMPORT_TOOL = "aximport.exe"


class ImportFailed(AirflowException):
    """aximport exited with an error: it ran and has ended (unlike a timeout or a lost poll)."""


def _folder_args(folders: list[JobFolder]) -> list[tuple[str, bool]]:
    return [(f["name"], f["subfolders"]) for f in folders]


@dataclass(frozen=True)
class DsHost:
    """A DS server of the estate.

    :param role: `master` or `slave` (as errors name it).
    :param name: its name in the config.
    :param winrm_conn_id: its `winrm` connection; `mssql_conn_id`, `smb_conn_id` likewise.
    :param share: the share of its DS folder; `database`: its DS database; `ds_path`: its DS folder.
    """

    role: Literal["master", "slave"]
    name: str
    winrm_conn_id: str
    mssql_conn_id: str
    smb_conn_id: str
    share: str
    database: str
    ds_path: str

    @classmethod
    def from_config(cls, role: Literal["master", "slave"], entry: Master | SlaveConfig) -> DsHost:
        """From the validated config entry of the master or of a slave."""
        fields = ("name", "winrm_conn_id", "mssql_conn_id", "smb_conn_id", "share", "database", "ds_path")
        return cls(role, **{f: getattr(entry, f) for f in fields})

    # --- its hooks ----------------------------------------------------------------------

    def database_hook(self) -> DsDatabaseHook:
        return DsDatabaseHook(self.mssql_conn_id, self.database)

    def shell_hook(self) -> DsShellHook:
        from ds_replication.hooks.shell import DsShellHook

        return DsShellHook(self.winrm_conn_id)

    def share_hook(self) -> DsShareHook:
        """A share hook to use as a context manager."""
        from ds_replication.hooks.share import DsShareHook

        return DsShareHook(self.smb_conn_id, self.share)

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection to its DS database, autocommit, closed on exit."""
        with self.database_hook().connect() as conn:
            yield conn

    # --- the DS -------------------------------------------------------------------------

    def job_counts(self, folders: list[JobFolder]) -> dict[str, int | None]:
        """Jobs per folder (None: no such folder)."""
        with self.connect() as conn:
            return folder_job_counts(conn, _folder_args(folders))

    def job_names(self, folders: list[JobFolder]) -> dict[str, list[str] | None]:
        with self.connect() as conn:
            return folder_job_names(conn, _folder_args(folders))

    def run(self, command: str, timeout_seconds: float) -> CommandResult:
        return self.shell_hook().run_command(command, timeout_seconds)

    def export_folder(
        self, folder: JobFolder, file_name: str, jobs: int, timeout_seconds: float, what: str, failed: str = ""
    ) -> CommandResult:
        """axexport `folder` into `file_name` (relative to the DS folder); refused when the tool
        fails (the error ends with `failed`) or says it wrote other than `jobs` jobs."""
        command = axexport_command(self.ds_path, folder["name"], folder["subfolders"], file_name)
        result = self.run(command, timeout_seconds)
        if result.return_code != 0:
            raise AirflowException(
                f"axexport of {what} failed: "
                f"{failure_text('axexport', result.return_code, result.stdout, result.stderr)}{failed}"
            )
        check_export_count(result, jobs, f"export of {what}")
        return result

    def import_file(self, file_name: str, folder: JobFolder, timeout_seconds: float) -> CommandResult:
        """`aximport <file> /o` from its DS folder: the folder's jobs become the file's."""
        result = self.run(aximport_command(self.ds_path, file_name), timeout_seconds)
        if result.return_code != 0:
            raise ImportFailed(
                f"aximport of {file_name} (folder {folder['name']!r}) failed: "
                f"{failure_text('aximport', result.return_code, result.stdout, result.stderr)}; the history "
                "backup is kept and restore_history will put it back after a successful import"
            )
        return result

    def computer_name(self, timeout_seconds: float) -> str:
        """Its Windows computer name (%COMPUTERNAME%): the HOST_NAME() a program running on it
        gives SQL Server (ODBC and OLE DB send the computer name as the workstation)."""
        result = self.run("echo %COMPUTERNAME%", timeout_seconds)
        name = result.stdout.strip()
        if result.return_code != 0 or not name or "%" in name:
            raise AirflowException(f"cannot read the computer name of {self.role} {self.name}: {result.stdout!r}")
        return name

    def import_running(self, timeout_seconds: float) -> list[int]:
        """The process ids of aximport running here now (tasklist); raises when it cannot be told."""
        return self.shell_hook().running_processes(IMPORT_TOOL, timeout_seconds)

    def wait_for_no_import(self, wait_seconds: float) -> float:
        """Wait (bounded) until no aximport runs here; the seconds waited."""
        return self.shell_hook().wait_while_running(IMPORT_TOOL, f"{self.role} {self.name}", wait_seconds)

    # --- files of the runs on its share ------------------------------------------------

    def remove_files(self, names: list[str]) -> list[str]:
        """Remove those of `names` present on the share; the ones removed."""
        with self.share_hook() as share:
            present = set(share.listdir(""))
            removed = [name for name in names if name in present]
            for name in removed:
                share.remove(name)
        return removed

    def remove_matching(self, pattern: re.Pattern[str]) -> list[str]:
        """Remove every file of the share whose name matches `pattern`; their names, sorted."""
        with self.share_hook() as share:
            names = sorted(n for n in share.listdir("") if pattern.fullmatch(n))
            for name in names:
                share.remove(name)
        return names

    # --- reaching it ---------------------------------------------------------------------

    def reach(self) -> SqlServer | None:
        """Check SQL, cmd over WinRM in the DS folder with its tools, and SMB (host_checks.reach,
        as the survey does); every problem in one error (not retried when none of them heals by
        waiting, as an old server); its SQL Server when that answers."""
        checks, server = host_checks.reach(self)
        problems = host_checks.refusals(checks)
        if problems:
            message = host_checks.refusal_text(f"{self.role} not reachable", problems)
            # an old server needs a person: no retry would help
            if all(check.lasting for check in problems):
                raise AirflowFailException(message + " (not retried: waiting will not heal this)")
            raise AirflowException(message)
        return server
