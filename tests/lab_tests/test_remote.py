"""DsShellHook against the lab's WinRM service: what a real estate's network and a
long `aximport` do to a remote command (issue 9, L7). Real pywinrm, the provider's hook, the
lab's connections; faults armed on the lab host."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import winrm

from ds_replication.ds_tools import axexport_command, check_export_count
from ds_replication.hooks.shell import DsShellHook, RemoteCommandLost, RemoteCommandTimeout
from tests.history_audit import jobs_in_folders
from tests.lab import faults
from tests.lab.cmdexe import DS_PATH
from tests.labctl import Lab, lab_in_environ

GLOBAL = [{"name": "Global", "subfolders": True}]


@pytest.fixture(scope="module")
def lab():
    with lab_in_environ("remote") as lab:
        yield lab


pytestmark = pytest.mark.usefixtures("no_faults_left")


def export_to_slave(lab: Lab, name: str, folder: str = "Global") -> None:
    """The master's `folder` tree exported into `name` on the slave's share, as copy_to_slave leaves it."""
    shares = {h: Path(i["share_dir"]) for h, i in lab.info["hosts"].items()}
    (shares["master"] / name).unlink(missing_ok=True)
    out = lab.shell("master", f'axexport /f "{folder}" /s {name}')
    assert out.returncode == 0, out
    shutil.copy(shares["master"] / name, shares["slave1"] / name)


def test_a_dropped_poll_neither_stops_nor_repeats_a_running_import(lab):
    export_to_slave(lab, "drop.bin")
    assert jobs_in_folders(lab, "slave1", GLOBAL) != jobs_in_folders(lab, "master", GLOBAL)
    lab.fault("slave1", "aximport_slow", match="drop.bin")
    lab.fault("slave1", "winrm_receive_drop", match="drop.bin")
    line = f'cd /d "{DS_PATH}" && aximport drop.bin /o'
    result = DsShellHook("ds_slave1_winrm").run_command(line, timeout_seconds=120, retry_seconds=1)
    assert faults.armed(lab.dir, "slave1") == [], "a fault did not fire"
    assert result.return_code == 0 and "Processed" in result.stdout, result
    # the import ran to its end: a terminate would have stopped the slow tool before it imported
    assert jobs_in_folders(lab, "slave1", GLOBAL) == jobs_in_folders(lab, "master", GLOBAL)
    assert result.seconds < 60, result


def test_a_shell_the_server_no_longer_knows_ends_the_poll_at_once(lab):
    """Polling again cannot help when the shell is gone (its idle timeout, a service restart)."""
    info = lab.info
    protocol = winrm.Session(
        f"http://127.0.0.1:{info['hosts']['slave1']['winrm_port']}/wsman",
        auth=(info["user"], info["password"]),
        transport="ntlm",
        message_encryption="never",
    ).protocol
    shell = protocol.open_shell()
    command = protocol.run_command(shell, "ver")
    protocol.close_shell(shell)
    with pytest.raises(RemoteCommandLost, match="no longer knows the shell"):
        hook = DsShellHook("ds_slave1_winrm")
        hook.winrm_protocol = protocol  # the connection whose shell is gone
        hook._poll((shell, command, "ver"), (bytearray(), bytearray()), time.monotonic(), 60, 1)


def start_and_abandon(lab: Lab, line: str) -> None:
    """Start `line` on slave1 and leave it running, as a worker killed in the middle does."""
    info = lab.info
    protocol = winrm.Session(
        f"http://127.0.0.1:{info['hosts']['slave1']['winrm_port']}/wsman",
        auth=(info["user"], info["password"]),
        transport="ntlm",
        message_encryption="never",
    ).protocol
    protocol.run_command(protocol.open_shell(), line)  # no poll, no terminate, no close


def test_tasklist_sees_an_import_left_running_and_the_wait_fails_clearly(lab):
    export_to_slave(lab, "orphan.bin", "Drivers")  # Global stays as seeded for the test above
    assert DsShellHook("ds_slave1_winrm").running_processes("aximport.exe", 60) == []
    lab.fault("slave1", "aximport_slow", match="orphan.bin")
    start_and_abandon(lab, f'cd /d "{DS_PATH}" && aximport orphan.bin /o')
    with pytest.raises(RuntimeError, match=r"aximport.exe is still running on slave1 \(pid \d+\).*trigger the DAG"):
        DsShellHook("ds_slave1_winrm").wait_while_running("aximport.exe", "slave1", wait_seconds=1, poll_seconds=0.5)
    # waited for, within the bound: returns once the orphan has ended (and its import is done)
    waited = DsShellHook("ds_slave1_winrm").wait_while_running(
        "aximport.exe", "slave1", wait_seconds=60, poll_seconds=0.5
    )
    assert 0 < waited < 60
    assert DsShellHook("ds_slave1_winrm").running_processes("aximport.exe", 60) == []
    drivers = [{"name": "Drivers", "subfolders": True}]
    assert jobs_in_folders(lab, "slave1", drivers) == jobs_in_folders(lab, "master", drivers)


# -- the tools' unpublished behaviour, as the lab takes it ---------------------------------------


def test_a_tool_called_by_its_bare_name_is_not_found_without_current_directory_lookup(lab):
    lab.fault("master", "cmd_no_cwd_lookup", times=2)
    bare = DsShellHook("ds_master_winrm").run_command(f'cd /d "{DS_PATH}" && axexport /f "Drivers" nocwd1.bin', 60)
    assert bare.return_code == 9009 and "is not recognized" in bare.stderr, bare
    explicit = DsShellHook("ds_master_winrm").run_command(axexport_command(DS_PATH, "Drivers", False, "nocwd2.bin"), 60)
    assert explicit.return_code == 0 and "Processed" in explicit.stdout, explicit


def test_axexport_onto_an_existing_file_waits_for_an_answer_until_stopped(lab):
    line = axexport_command(DS_PATH, "Drivers", False, "twice.bin")
    assert DsShellHook("ds_master_winrm").run_command(line, 60).return_code == 0
    with pytest.raises(RemoteCommandTimeout):
        DsShellHook("ds_master_winrm").run_command(line, 3)


def test_axexport_short_leaves_a_job_out_and_says_so(lab):
    full = DsShellHook("ds_master_winrm").run_command(axexport_command(DS_PATH, "Global", True, "full.bin"), 60)
    lab.fault("master", "axexport_short")
    short = DsShellHook("ds_master_winrm").run_command(axexport_command(DS_PATH, "Global", True, "short.bin"), 60)
    assert short.return_code == 0
    with pytest.raises(RuntimeError, match="refused"):
        check_export_count(short, len(jobs_in_folders(lab, "master", GLOBAL)), "Global")
    check_export_count(full, len(jobs_in_folders(lab, "master", GLOBAL)), "Global")
