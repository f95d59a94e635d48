"""cmd.exe command lines on a DS server: `DsShellHook`, a `WinRMHook` with a real deadline.

The provider's `WinRMHook.run` polls until the command ends, however long that takes. A DS
tool that hangs would hold the worker forever, so this hook polls itself, stops the command
at a deadline (WS-Man Signal terminate) and always closes the shell.

A poll that fails (a dropped connection, an HTTP error of the service) says nothing about
the command: the shell lives on the server until its idle timeout. So a failed poll is
followed by a new connection that polls the same shell and command again, until the
deadline; only the deadline stops an `aximport` that may be half-way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from airflow.providers.microsoft.winrm.hooks.winrm import WinRMHook
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

from ds_replication.cmd_quote import quote_arg
from ds_replication.hooks import ConnectionFieldError

log = logging.getLogger(__name__)

# cmd.exe writes in the console's OEM code page; a DS server is typically a Western one.
OUTPUT_ENCODING = "cp437"
CODEPAGE = 437
# Between a failed poll and the next one: long enough for a restarting service or a network
# blip, short against any command timeout.
POLL_RETRY_SECONDS = 5.0
# The WS-Man fault code of "the shell was not found on the server" (0x8033805B): the shell
# ended (idle timeout, service restart) and with it the command's output.
SHELL_NOT_FOUND = 2150858843
# Without `transport` the provider speaks `plaintext` (Basic over HTTP); kerberos and credssp
# are not installed.
TRANSPORTS = ("ntlm",)


@dataclass(frozen=True)
class CommandResult:
    return_code: int
    stdout: str
    stderr: str
    seconds: float


class RemoteCommandTimeout(RuntimeError):
    pass


class RemoteCommandLost(RuntimeError):
    """The server no longer knows the shell or command: its outcome cannot be read."""


def _shell_gone(error: Exception) -> bool:
    return isinstance(error, WSManFaultError) and str(error.wsman_fault_code) == str(SHELL_NOT_FOUND)


class DsShellHook(WinRMHook):
    """A DS server's cmd.exe over WinRM, each command bounded by a deadline.

    :param winrm_conn_id: the Airflow connection (type `winrm`); its extras must name the
        `endpoint` (`https://host:5986/wsman`) and the `transport` (`ntlm`).
    """

    def __init__(self, winrm_conn_id: str) -> None:
        super().__init__(ssh_conn_id=winrm_conn_id)
        self.winrm_conn_id = winrm_conn_id

    def check_fields(self) -> None:
        extra = self.get_connection(self.winrm_conn_id).extra_dejson
        endpoint = str(extra.get("endpoint") or "")
        if not endpoint.lower().startswith(("http://", "https://")):
            raise ConnectionFieldError(
                self.winrm_conn_id,
                "extra 'endpoint'",
                f"must be the WS-Man URL (https://host:5986/wsman), not {endpoint!r}",
            )
        transport = extra.get("transport")
        if transport not in TRANSPORTS:
            raise ConnectionFieldError(
                self.winrm_conn_id, "extra 'transport'", f"must be one of {list(TRANSPORTS)}, not {transport!r}"
            )

    def get_conn(self) -> Protocol:
        if self.winrm_protocol is None:
            self.check_fields()
        return super().get_conn()

    def reconnect(self) -> Protocol:
        """A new connection (the old one may be broken); the shells on the server live on."""
        self.winrm_protocol = None
        return self.get_conn()

    def run_command(
        self, command: str, timeout_seconds: float, retry_seconds: float = POLL_RETRY_SECONDS
    ) -> CommandResult:
        """Run `command` in a new cmd shell; stop it when it outlives `timeout_seconds`."""
        protocol = self.get_conn()
        started = time.monotonic()
        shell_id = protocol.open_shell(codepage=CODEPAGE)
        try:
            command_id = protocol.run_command(shell_id, command)
            stdout, stderr = bytearray(), bytearray()
            try:
                return_code = self._poll(
                    (shell_id, command_id, command), (stdout, stderr), started, timeout_seconds, retry_seconds
                )
            finally:
                # Signal terminate: ends the command if it is still running (the deadline, or the
                # task stopped by Airflow), frees it if not.
                try:
                    self.get_conn().cleanup_command(shell_id, command_id)
                except Exception as error:  # the command result matters more than its cleanup
                    log.warning("could not clean up the remote command: %s", error)
        finally:
            try:
                self.get_conn().close_shell(shell_id)
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
        self,
        ids: tuple[str, str, str],
        output: tuple[bytearray, bytearray],
        started: float,
        timeout_seconds: float,
        retry_seconds: float,
    ) -> int:
        """Poll until the command is done; its exit code. A failed poll is retried on a new
        connection until the deadline."""
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
                out, err, return_code, done = self.get_conn().get_command_output_raw(shell_id, command_id)
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
                self.reconnect()
                continue
            stdout += out
            stderr += err
            if done:
                return return_code

    def running_processes(self, image: str, timeout_seconds: float) -> list[int]:
        """The process ids of `image` (e.g. `aximport.exe`) running on the server, from `tasklist`."""
        line = f"tasklist /FI {quote_arg(f'IMAGENAME eq {image}')} /FO CSV /NH"
        result = self.run_command(line, timeout_seconds)
        if result.return_code != 0:
            raise RuntimeError(
                f"cannot list the running {image} processes (tasklist exit code {result.return_code}): "
                f"{(result.stdout + result.stderr).strip()}"
            )
        # CSV rows: "aximport.exe","4242","Services","0","10,240 K"; no match: an INFO line
        rows = [r.split('","') for r in result.stdout.splitlines() if r.lower().startswith(f'"{image.lower()}"')]
        return [int(r[1]) for r in rows if len(r) > 1 and r[1].isdigit()]

    def wait_while_running(
        self, image: str, host: str, wait_seconds: float, poll_seconds: float | None = None
    ) -> float:
        """Wait (at most `wait_seconds`) until no `image` runs on `host`; the seconds waited.

        An `aximport` left running by a try whose worker was killed is still changing the
        database: starting another one on top of it would run two imports of the folder at once.
        """
        poll = poll_seconds if poll_seconds is not None else max(1.0, min(10.0, wait_seconds / 6))
        started = time.monotonic()
        while True:
            pids = self.running_processes(image, max(wait_seconds, 60.0))
            waited = round(time.monotonic() - started, 3)
            if not pids:
                if waited:
                    log.info("waited %.0f s for a running %s on %s to end", waited, image, host)
                return waited
            if waited >= wait_seconds:
                raise RuntimeError(
                    f"{image} is still running on {host} (pid {', '.join(map(str, pids))}) after {waited:.0f} s "
                    f"of waiting: an earlier import (a try whose worker was stopped?) is still changing the DS "
                    f"database, and a second one must not start beside it. Nothing was changed by this try. Let "
                    f'it end (see tasklist /FI "IMAGENAME eq {image}" on {host}) or end it there (taskkill /PID '
                    "<pid>), then trigger the DAG again"
                )
            log.info("%s is running on %s (pid %s); waiting for it to end", image, host, pids)
            time.sleep(max(0.0, min(poll, wait_seconds - waited)))

    def test_connection(self) -> tuple[bool, str]:
        try:
            result = self.run_command("ver", 60)
        except Exception as error:
            return False, str(error)
        if result.return_code != 0:
            return False, f"'ver' exited {result.return_code}: {(result.stdout + result.stderr).strip()}"
        return True, result.stdout.strip()
