"""Running a cmd.exe command line on a DS server through the WinRM provider.

The provider's `WinRMHook.run` polls until the command ends, however long that takes. A DS
tool that hangs would hold the worker forever, so this module polls itself, stops the
command at a deadline (WS-Man Signal terminate) and always closes the shell.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ds_replication.cmd_quote import quote_arg

log = logging.getLogger(__name__)

# cmd.exe writes in the console's OEM code page; a DS server is typically a Western one.
OUTPUT_ENCODING = "cp437"


@dataclass(frozen=True)
class CommandResult:
    return_code: int
    stdout: str
    stderr: str
    seconds: float


class RemoteCommandTimeout(RuntimeError):
    pass


def in_ds_folder(ds_path: str, command: str) -> str:
    """`command` run from the DS install folder, as the tools expect."""
    return f"cd /d {quote_arg(ds_path)} && {command}"


def axexport_command(ds_path: str, folder: str, subfolders: bool, file_name: str) -> str:
    """Export a job folder (with its sub-folders when asked) into `file_name`, relative to the DS folder."""
    switches = " /s" if subfolders else ""
    return in_ds_folder(ds_path, f"axexport /f {quote_arg(folder)}{switches} {quote_arg(file_name)}")


def run_command(winrm_conn_id: str, command: str, timeout_seconds: float) -> CommandResult:
    """Run `command` in a new cmd shell; stop it when it outlives `timeout_seconds`."""
    from airflow.providers.microsoft.winrm.hooks.winrm import WinRMHook
    from winrm.exceptions import WinRMOperationTimeoutError

    hook = WinRMHook(ssh_conn_id=winrm_conn_id)
    protocol = hook.get_conn()
    started = time.monotonic()
    shell_id = protocol.open_shell(codepage=437)
    try:
        command_id = protocol.run_command(shell_id, command)
        stdout, stderr = bytearray(), bytearray()
        try:
            while True:
                if time.monotonic() - started > timeout_seconds:
                    raise RemoteCommandTimeout(
                        f"command still running after {timeout_seconds:.0f} s; stopped it: {command}"
                    )
                try:
                    out, err, return_code, done = protocol.get_command_output_raw(shell_id, command_id)
                except WinRMOperationTimeoutError:
                    continue  # no output within the operation timeout: poll again
                stdout += out
                stderr += err
                if done:
                    break
        finally:
            # Signal terminate: ends the command if it is still running, frees it if not.
            try:
                protocol.cleanup_command(shell_id, command_id)
            except Exception as error:  # the command result matters more than its cleanup
                log.warning("could not clean up the remote command: %s", error)
    finally:
        try:
            protocol.close_shell(shell_id)
        except Exception as error:
            log.warning("could not close the remote shell: %s", error)
    result = CommandResult(
        return_code=int(return_code),
        stdout=stdout.decode(OUTPUT_ENCODING, errors="replace"),
        stderr=stderr.decode(OUTPUT_ENCODING, errors="replace"),
        seconds=round(time.monotonic() - started, 3),
    )
    for line in result.stdout.splitlines():
        log.info("| %s", line)
    for line in result.stderr.splitlines():
        log.warning("| %s", line)
    return result
