"""The DS command-line tools, `axexport` and `aximport`: their command lines and what their
output is checked for."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ds_replication.cmd_quote import quote_arg

if TYPE_CHECKING:  # the WinRM client is imported by the task that runs a command
    from ds_replication.hooks.shell import CommandResult

log = logging.getLogger(__name__)


def in_ds_folder(ds_path: str, command: str) -> str:
    """`command` run from the DS install folder, as the tools expect."""
    return f"cd /d {quote_arg(ds_path)} && {command}"


def ds_tool(name: str) -> str:
    """A DS tool by its path in the DS folder (the current directory of `in_ds_folder`): a host
    with NoDefaultCurrentDirectoryInExePath set does not find it by its bare name."""
    return f".\\{name}.exe"


def axexport_command(ds_path: str, folder: str, subfolders: bool, file_name: str) -> str:
    """Export a job folder (with its sub-folders when asked) into `file_name`, relative to the DS folder.

    The target must not exist: axexport may ask before overwriting it, and nobody answers."""
    switches = " /s" if subfolders else ""
    return in_ds_folder(ds_path, f"{ds_tool('axexport')} /f {quote_arg(folder)}{switches} {quote_arg(file_name)}")


def aximport_command(ds_path: str, file_name: str) -> str:
    """Import `file_name` with `/o` (the folder's jobs are replaced).

    A local path on the slave: reading the master's share from a WinRM shell would be a
    credential double hop."""
    return in_ds_folder(ds_path, f"{ds_tool('aximport')} {quote_arg(file_name)} /o")


_PROCESSED = re.compile(r"Processed\s+(\d+)\s+jobs?\s+in\s+(\d+)\s+folders?", re.IGNORECASE)


def check_export_count(result: CommandResult, expected: int, what: str) -> None:
    """Refuse an export whose tool says it wrote another number of jobs than `expected`.

    axexport prints `Processed N jobs in M folders.`; a short export (a `/f` that matched less
    than meant) would otherwise be imported with `/o` and delete the jobs it left out. A tool
    that prints no such line cannot be checked here: that is logged, and wait_for_import checks
    the slave's counts after the import."""
    found = _PROCESSED.findall(result.stdout)
    if not found:
        log.warning("%s: axexport printed no 'Processed N jobs' line; its job count cannot be checked", what)
        return
    written = int(found[-1][0])
    if written != expected:
        raise RuntimeError(
            f"{what}: axexport says it processed {written} jobs, but the folder holds {expected}: the export is "
            "refused and nothing is imported (a job added or removed meanwhile: a retry exports again; else the "
            "folder name does not match what axexport takes)"
        )
