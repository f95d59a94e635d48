"""Running a cmd.exe command line on a DS server through the WinRM provider.

The provider's `WinRMHook.run` polls until the command ends, however long that takes. A DS
tool that hangs would hold the worker forever, so this module polls itself, stops the
command at a deadline (WS-Man Signal terminate) and always closes the shell.

A poll that fails (a dropped connection, an HTTP error of the service) says nothing about
the command: the shell lives on the server until its idle timeout. So a failed poll is
followed by a new connection that polls the same shell and command again, until the
deadline; only the deadline stops an `aximport` that may be half-way.
"""

from __future__ import annotations

import logging
import re
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


# Between a failed poll and the next one: long enough for a restarting service or a network
# blip, short against any command timeout.
POLL_RETRY_SECONDS = 5.0


class RemoteCommandTimeout(RuntimeError):
    pass


class RemoteCommandLost(RuntimeError):
    """The server no longer knows the shell or command: its outcome cannot be read."""


# The WS-Man fault code of "the shell was not found on the server" (0x8033805B): the shell
# ended (idle timeout, service restart) and with it the command's output.
SHELL_NOT_FOUND = 2150858843


def _shell_gone(error: Exception) -> bool:
    from winrm.exceptions import WSManFaultError

    return isinstance(error, WSManFaultError) and str(error.wsman_fault_code) == str(SHELL_NOT_FOUND)


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


def run_command(
    winrm_conn_id: str, command: str, timeout_seconds: float, retry_seconds: float = POLL_RETRY_SECONDS
) -> CommandResult:
    """Run `command` in a new cmd shell; stop it when it outlives `timeout_seconds`."""
    from airflow.providers.microsoft.winrm.hooks.winrm import WinRMHook

    protocol = WinRMHook(ssh_conn_id=winrm_conn_id).get_conn()
    started = time.monotonic()
    shell_id = protocol.open_shell(codepage=437)
    try:
        command_id = protocol.run_command(shell_id, command)
        stdout, stderr = bytearray(), bytearray()
        try:
            protocol, return_code = _poll(
                winrm_conn_id,
                protocol,
                (shell_id, command_id, command),
                (stdout, stderr),
                started,
                timeout_seconds,
                retry_seconds,
            )
        finally:
            # Signal terminate: ends the command if it is still running (the deadline, or the
            # task stopped by Airflow), frees it if not.
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


def _poll(
    winrm_conn_id: str,
    protocol,
    ids: tuple[str, str, str],
    output: tuple[bytearray, bytearray],
    started: float,
    timeout_seconds: float,
    retry_seconds: float,
):
    """Poll until the command is done; (the protocol last used, exit code). A failed poll is
    retried on a new connection until the deadline."""
    from airflow.providers.microsoft.winrm.hooks.winrm import WinRMHook
    from winrm.exceptions import WinRMOperationTimeoutError

    shell_id, command_id, command = ids
    stdout, stderr = output
    last_error: Exception | None = None
    while True:
        if time.monotonic() - started > timeout_seconds:
            since = f"; the last poll failed: {type(last_error).__name__}: {last_error}" if last_error else ""
            raise RemoteCommandTimeout(
                f"command still running after {timeout_seconds:.0f} s; stopped it: {command}{since}"
            )
        try:
            out, err, return_code, done = protocol.get_command_output_raw(shell_id, command_id)
        except WinRMOperationTimeoutError:
            continue  # no output within the operation timeout: poll again
        except Exception as error:
            if _shell_gone(error):
                raise RemoteCommandLost(
                    f"the server no longer knows the shell of the command ({error}); whether it finished is unknown"
                ) from error
            last_error = error
            log.warning(
                "polling the remote command failed (%s: %s); polling it again in %.0f s on a new connection",
                type(error).__name__,
                error,
                retry_seconds,
            )
            time.sleep(max(0.0, min(retry_seconds, timeout_seconds - (time.monotonic() - started))))
            protocol = WinRMHook(ssh_conn_id=winrm_conn_id).get_conn()
            continue
        stdout += out
        stderr += err
        if done:
            return protocol, return_code


def running_processes(winrm_conn_id: str, image: str, timeout_seconds: float) -> list[int]:
    """The process ids of `image` (e.g. `aximport.exe`) running on the server, from `tasklist`."""
    line = f"tasklist /FI {quote_arg(f'IMAGENAME eq {image}')} /FO CSV /NH"
    result = run_command(winrm_conn_id, line, timeout_seconds)
    if result.return_code != 0:
        raise RuntimeError(
            f"cannot list the running {image} processes (tasklist exit code {result.return_code}): "
            f"{(result.stdout + result.stderr).strip()}"
        )
    # CSV rows: "aximport.exe","4242","Services","0","10,240 K"; no match: an INFO line
    rows = [r.split('","') for r in result.stdout.splitlines() if r.lower().startswith(f'"{image.lower()}"')]
    return [int(r[1]) for r in rows if len(r) > 1 and r[1].isdigit()]


def wait_while_running(
    winrm_conn_id: str, image: str, host: str, wait_seconds: float, poll_seconds: float | None = None
) -> float:
    """Wait (at most `wait_seconds`) until no `image` runs on `host`; the seconds waited.

    An `aximport` left running by a try whose worker was killed is still changing the
    database: starting another one on top of it would run two imports of the folder at once.
    """
    poll = poll_seconds if poll_seconds is not None else max(1.0, min(10.0, wait_seconds / 6))
    started = time.monotonic()
    while True:
        pids = running_processes(winrm_conn_id, image, max(wait_seconds, 60.0))
        waited = round(time.monotonic() - started, 3)
        if not pids:
            if waited:
                log.info("waited %.0f s for a running %s on %s to end", waited, image, host)
            return waited
        if waited >= wait_seconds:
            raise RuntimeError(
                f"{image} is still running on {host} (pid {', '.join(map(str, pids))}) after {waited:.0f} s of "
                f"waiting: an earlier import (a try whose worker was stopped?) is still changing the DS database, "
                f"and a second one must not start beside it. Nothing was changed by this try. Let it end (see "
                f'tasklist /FI "IMAGENAME eq {image}" on {host}) or end it there (taskkill /PID <pid>), '
                "then trigger the DAG again"
            )
        log.info("%s is running on %s (pid %s); waiting for it to end", image, host, pids)
        time.sleep(max(0.0, min(poll, wait_seconds - waited)))
