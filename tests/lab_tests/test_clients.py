"""The lab through real clients only: pymssql, pywinrm, smbclient, smbprotocol, the Airflow
providers' hooks with the lab's connections, and smtplib. Every fault is armed and observed."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pymssql
import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError

from tests.lab import faults
from tests.labctl import Lab, lab_in_environ


@pytest.fixture(scope="module")
def lab():
    with lab_in_environ("clients") as lab:
        yield lab


pytestmark = pytest.mark.usefixtures("no_faults_left")


def connect(lab: Lab, host: str = "slave1", **kwargs) -> pymssql.Connection:
    info = lab.info
    return pymssql.connect(
        server="127.0.0.1",
        port=str(info["hosts"][host]["sql_port"]),
        user=info["user"],
        password=info["password"],
        database="express",
        login_timeout=5,
        **({"timeout": 10} | kwargs),
    )


def session(lab: Lab, host: str = "slave1", transport: str = "ntlm", **kwargs) -> winrm.Session:
    info = lab.info
    return winrm.Session(
        f"http://127.0.0.1:{info['hosts'][host]['winrm_port']}/wsman",
        auth=(info["user"], info["password"]),
        transport=transport,
        message_encryption="never",
        **({"operation_timeout_sec": 2, "read_timeout_sec": 5} | kwargs),
    )


# -- SQL over TDS ------------------------------------------------------------------------------


def test_pymssql_reads_every_type_and_null(lab):
    with connect(lab) as conn:
        cursor = conn.cursor(as_dict=True)
        cursor.execute("SELECT TOP 1 * FROM event_schedule ORDER BY schedule_id")
        row = cursor.fetchone()
        assert isinstance(row["schedule_id"], int) and isinstance(row["start_time"], dt.datetime)
        cursor.execute("SELECT 1.5 AS f, NULL AS n, N'Büro' AS s, COUNT(*) AS c FROM computer")
        assert cursor.fetchone() == {"f": 1.5, "n": None, "s": "Büro", "c": 5}


def test_pymssql_gets_several_result_sets_and_row_counts(lab):
    with connect(lab, autocommit=True) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT 1 AS a; SELECT 2 AS b")
        assert cursor.fetchall() == [(1,)]
        assert cursor.nextset()
        assert cursor.fetchall() == [(2,)]
        cursor.execute("UPDATE computer SET name = name WHERE computer_id > 0")
        assert cursor.rowcount == 5


def test_errors_arrive_with_the_servers_message(lab):
    with connect(lab) as conn:
        cursor = conn.cursor()
        with pytest.raises(pymssql.ProgrammingError, match="Invalid object name 'nosuch'"):
            cursor.execute("SELECT * FROM nosuch")
        with pytest.raises(pymssql.OperationalError, match="Divide by zero"):
            cursor.execute("SELECT 1 / 0 AS x")


@pytest.mark.parametrize(
    "batch",
    [
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "MERGE INTO computer AS t USING computer AS s ON t.computer_id = s.computer_id WHEN MATCHED THEN DELETE;",
        "DROP TABLE IF EXISTS computer",
        "SELECT STRING_AGG(name, ',') FROM computer",
        "EXEC sp_executesql N'SELECT 1'",
    ],
)
def test_unsupported_sql_gets_the_labs_clear_error(lab, batch):
    with connect(lab) as conn, pytest.raises(pymssql.Error, match="DS lab: unsupported T-SQL"):
        conn.cursor().execute(batch)


def test_wrong_password_is_refused(lab):
    info = lab.info
    # under load FreeTDS may pass the login-failed number without its text
    with pytest.raises(pymssql.OperationalError, match=r"Login failed|18456"):
        pymssql.connect(
            server="127.0.0.1",
            port=str(info["hosts"]["slave1"]["sql_port"]),
            user=info["user"],
            password="wrong",
            login_timeout=5,
        )


def test_mssql_hook_with_the_labs_connection(lab):
    from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook

    rows = MsSqlHook(mssql_conn_id="ds_slave1_mssql").get_records("SELECT COUNT(*) FROM event_folder")
    assert rows[0][0] > 0


def test_sql_drop_mid_batch_rolls_back(lab):
    lab.fault("slave1", "sql_drop", match="INSERT INTO computer")
    with connect(lab, autocommit=True) as conn, pytest.raises(pymssql.Error):
        conn.cursor().execute(
            "SET XACT_ABORT ON; BEGIN TRAN; UPDATE computer SET name = 'x' WHERE computer_id < 0; "
            "INSERT INTO computer VALUES (1, 'lost'); COMMIT"
        )
    assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM computer WHERE computer_id = 1") == 0


def test_sql_drop_before_commit_loses_the_transaction(lab):
    lab.fault("slave1", "sql_drop_before_commit", match="VALUES (2,")
    with connect(lab, autocommit=True) as conn, pytest.raises(pymssql.Error):
        conn.cursor().execute("BEGIN TRAN; INSERT INTO computer VALUES (2, 'x'); COMMIT")
    assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM computer WHERE computer_id = 2") == 0


def test_sql_drop_after_commit_keeps_the_transaction_but_not_the_reply(lab):
    lab.fault("slave1", "sql_drop_after_commit", match="VALUES (3,")
    with connect(lab, autocommit=True) as conn, pytest.raises(pymssql.Error):
        conn.cursor().execute("BEGIN TRAN; INSERT INTO computer VALUES (3, 'kept'); COMMIT")
    assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM computer WHERE computer_id = 3") == 1
    lab.sql("slave1", "DELETE FROM computer WHERE computer_id = 3")


def test_sql_hang_ends_with_the_clients_timeout_and_the_server_lives_on(lab):
    lab.fault("slave1", "sql_hang", match="hang me")
    started = time.monotonic()
    with connect(lab, timeout=2) as conn, pytest.raises(pymssql.Error):
        conn.cursor().execute("SELECT 'hang me' AS x")
    assert time.monotonic() - started < 60  # the hang lasts until the client leaves
    assert lab.scalar("slave1", "SELECT 1 AS ok") == 1


# -- WinRM -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["basic", "ntlm"])
def test_pywinrm_runs_commands(lab, transport):
    result = session(lab, transport=transport).run_cmd("hostname")
    assert result.status_code == 0 and result.std_out.strip() == b"SLAVE1"


def test_winrm_refuses_a_wrong_password(lab):
    info = lab.info
    bad = winrm.Session(
        f"http://127.0.0.1:{info['hosts']['slave1']['winrm_port']}/wsman",
        auth=(info["user"], "wrong"),
        transport="ntlm",
        message_encryption="never",
    )
    with pytest.raises(InvalidCredentialsError):
        bad.run_cmd("ver")


def test_winrm_hook_with_the_labs_connection(lab):
    from airflow.providers.microsoft.winrm.hooks.winrm import WinRMHook

    code, out, _err = WinRMHook(ssh_conn_id="ds_master_winrm").run("ver")
    assert code == 0 and b"Windows" in b"".join(out)


def test_output_is_code_page_437(lab):
    result = session(lab, "master").run_cmd('axexport /f "Global\\Büro" x.bin')
    assert result.status_code == 0
    result = session(lab, "master").run_cmd("echo Büro")
    assert result.std_out == "Büro\r\n".encode("cp437")


def test_quoting_keeps_an_ampersand_literal_and_an_unquoted_one_runs_a_command(lab):
    quoted = session(lab).run_cmd('echo "Global & echo INJECTED"')
    assert quoted.std_out.count(b"INJECTED") == 1 and b"Global & echo INJECTED" in quoted.std_out
    unquoted = session(lab).run_cmd("echo Global & echo INJECTED")
    assert unquoted.std_out.splitlines() == [b"Global", b"INJECTED"]


def test_command_hang_keeps_the_command_running_until_terminated(lab):
    lab.fault("slave1", "command_hang")
    protocol = session(lab).protocol
    shell = protocol.open_shell()
    command = protocol.run_command(shell, "ver")
    with pytest.raises(WinRMOperationTimeoutError):
        protocol.get_command_output_raw(shell, command)
    protocol.cleanup_command(shell, command)  # Signal terminate
    protocol.close_shell(shell)


def test_winrm_500_is_a_wsman_fault(lab):
    lab.fault("slave1", "winrm_500")
    # pywinrm turns an HTTP 500 with a SOAP fault body into WSManFaultError
    with pytest.raises(WSManFaultError, match="lab fault winrm_500") as raised:
        session(lab).run_cmd("ver")
    assert raised.value.code == 500
    assert session(lab).run_cmd("ver").status_code == 0


def test_winrm_timeout_ends_with_the_clients_read_timeout(lab):
    lab.fault("slave1", "winrm_timeout")
    started = time.monotonic()
    with pytest.raises(Exception, match=r"(?i)timed? ?out"):
        session(lab, read_timeout_sec=3, operation_timeout_sec=2).run_cmd("ver")
    assert time.monotonic() - started < 60  # no answer ever comes


def test_aximport_crash_leaves_the_jobs_missing(lab):
    shares = {h: Path(i["share_dir"]) for h, i in lab.info["hosts"].items()}
    assert session(lab, "master").run_cmd('axexport /f "Drivers" d.bin').status_code == 0
    shutil.copy(shares["master"] / "d.bin", shares["slave1"] / "d.bin")
    lab.fault("slave1", "aximport_crash")
    result = session(lab).run_cmd("aximport d.bin /o")
    assert result.status_code == 3221225477  # 0xC0000005
    assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM event WHERE folder_id = 1004") == 0
    assert session(lab).run_cmd("aximport d.bin /o").status_code == 0
    assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM event WHERE folder_id = 1004") == 1


@pytest.mark.parametrize("fault", ["axexport_truncated", "axexport_corrupt"])
def test_a_bad_export_file_is_refused_by_aximport_and_changes_nothing(lab, fault):
    shares = {h: Path(i["share_dir"]) for h, i in lab.info["hosts"].items()}
    lab.fault("master", fault)
    name = f"bad-{fault}.bin"  # one per case: the lab's axexport will not overwrite a file
    assert session(lab, "master").run_cmd(f'axexport /f "Global" /s {name}').status_code == 0
    shutil.copy(shares["master"] / name, shares["slave1"] / name)
    before = lab.scalar("slave1", "SELECT COUNT(*) AS n FROM event_schedule")
    result = session(lab).run_cmd(f"aximport {name} /o")
    assert result.status_code == 2 and b"corrupt" in result.std_err
    assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM event_schedule") == before


def test_aximport_fail_exits_non_zero_and_changes_nothing(lab):
    lab.fault("slave1", "aximport_fail")
    result = session(lab).run_cmd("aximport nothing.bin /o")
    assert result.status_code == 1


# -- SMB ---------------------------------------------------------------------------------------


def _smbclient(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess:
    info = lab.info
    return subprocess.run(
        [
            "smbclient",
            "//127.0.0.1/express",
            "-p",
            str(info["hosts"][host]["smb_port"]),
            "-U",
            f"{info['user']}%{info['password']}",
            "-c",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_smbclient_puts_and_gets_a_file(lab, tmp_path):
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(300_000))
    assert _smbclient(lab, "slave1", f"put {source} put.bin").returncode == 0
    assert (Path(lab.info["hosts"]["slave1"]["share_dir"]) / "put.bin").read_bytes() == source.read_bytes()
    target = tmp_path / "out.bin"
    assert _smbclient(lab, "slave1", f"get put.bin {target}").returncode == 0
    assert target.read_bytes() == source.read_bytes()


def test_samba_hook_and_smbprotocol_copy_between_shares(lab):
    from airflow.providers.samba.hooks.samba import SambaHook

    from ds_replication.operators.copy_to_slave import copy_file

    payload = os.urandom(5_000_000)
    (Path(lab.info["hosts"]["master"]["share_dir"]) / "big.bin").write_bytes(payload)
    with SambaHook("ds_master_smb", share="express") as source, SambaHook("ds_slave1_smb", share="express") as target:
        size, _ = copy_file(source, target, "big.bin")
    assert size == len(payload)
    assert (Path(lab.info["hosts"]["slave1"]["share_dir"]) / "big.bin").read_bytes() == payload


def test_smb_disconnect_breaks_the_transfer(lab):
    from airflow.providers.samba.hooks.samba import SambaHook

    lab.fault("slave1", "smb_disconnect", match="cut.bin")
    # smbprotocol raises several kinds of error for a lost connection
    with (
        SambaHook("ds_slave1_smb", share="express") as hook,
        pytest.raises(Exception),  # noqa: B017
        hook.open_file("cut.bin", "wb") as f,
    ):
        f.write(b"x" * 100_000)
    assert faults.armed(lab.dir, "slave1") == []


def wait_until(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)


def free_bytes(path: str) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def test_smb_stall_holds_the_connection_open(lab):
    lab.fault("slave1", "smb_stall", match="stall.bin")
    info = lab.info
    proc = subprocess.Popen(
        [
            "smbclient",
            "//127.0.0.1/express",
            "-p",
            str(info["hosts"]["slave1"]["smb_port"]),
            "-U",
            f"{info['user']}%{info['password']}",
            "-c",
            "get stall.bin /dev/null",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # the stall has fired (it is used up) on the client's request for stall.bin
        wait_until(lambda: not faults.armed(lab.dir, "slave1") or proc.poll() is not None, "the stall")
        assert proc.poll() is None, proc.communicate()  # not closed when the stall fired
        time.sleep(3)  # a window in which a closed connection would have ended smbclient
        assert proc.poll() is None  # no answer, no close: the client still waits
    finally:
        proc.kill()
        proc.wait()


def test_share_full_refuses_writes(lab, tmp_path):
    if not lab.info["hosts"]["slave1"].get("share_full_available"):
        pytest.skip("the share could not be put on a size-limited tmpfs here")
    source = tmp_path / "full.bin"
    source.write_bytes(os.urandom(2_000_000))
    share = lab.info["hosts"]["slave1"]["share_dir"]
    lab.fault("slave1", "share_full", times=1, match="never-matches")
    # the host fills the share while the fault is armed
    wait_until(lambda: free_bytes(share) < len(source.read_bytes()), "the share filled")
    result = _smbclient(lab, "slave1", f"put {source} full.bin")
    assert result.returncode != 0 and "DISK_FULL" in (result.stdout + result.stderr).upper()
    faults.clear(lab.dir, "slave1")
    # and empties it 3 s after the fault is cleared
    wait_until(lambda: free_bytes(share) > 2 * len(source.read_bytes()), "the share emptied")
    assert _smbclient(lab, "slave1", f"put {source} full.bin").returncode == 0


# -- SMTP and the command line -----------------------------------------------------------------


def test_smtp_sink_keeps_messages(lab):
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@lab", "b@lab", "plain smtplib"
    message.set_content("hello")
    with smtplib.SMTP("127.0.0.1", lab.info["smtp_port"], timeout=10) as smtp:
        smtp.send_message(message)
    with SmtpHook(smtp_conn_id="smtp_default") as hook:
        hook.send_email_smtp(to=["ds-admins@ds-lab.local"], subject="from the provider", html_content="<b>hi</b>")
    subjects = [m["subject"] for m in lab.mail()]
    assert "plain smtplib" in subjects and "from the provider" in subjects


def test_fault_help_lists_every_fault():
    out = subprocess.run(
        [os.sys.executable, "-m", "tests.lab", "fault", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and all(name in out.stdout for name in faults.FAULTS)


@pytest.fixture
def short_dir():
    """A lab dir short enough for smbd's unix sockets (pytest's tmp_path under xdist is not)."""
    root = Path(tempfile.mkdtemp(prefix="ds-lab-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_up_is_quick_and_down_leaves_nothing(short_dir):
    started = time.monotonic()
    lab = Lab(short_dir / "lab").up(slaves=3, seed=False)
    seconds = time.monotonic() - started
    info = lab.info
    print(f"lab up for 1 master + 3 slaves: {seconds:.1f} s")
    assert json.loads((short_dir / "lab" / "lab.json").read_text())["hosts"].keys() == {
        "master", "slave1", "slave2", "slave3"
    }  # fmt: skip
    lab.down()
    pids = [
        info["smtp_pid"],
        *[h["pid"] for h in info["hosts"].values()],
        *[h["smbd_pid"] for h in info["hosts"].values()],
    ]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    ports = [info["smtp_port"]] + [h[k] for h in info["hosts"].values() for k in ("sql_port", "winrm_port", "smb_port")]
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    assert not any(os.path.ismount(h["share_dir"]) for h in info["hosts"].values())


def test_up_refuses_a_dir_too_deep_for_smbds_sockets(short_dir):
    deep = short_dir / ("d" * 60) / "lab"
    with pytest.raises(RuntimeError, match=r"too deep for smbd's unix sockets.*use a shorter --dir"):
        Lab(deep).up(slaves=1, seed=False)
    assert not deep.exists()  # refused before anything was created or started


def test_a_failed_up_stops_everything_and_unmounts_the_shares(short_dir, monkeypatch):
    fake = short_dir / "bin"
    fake.mkdir()
    (fake / "smbd").write_text("#!/bin/sh\nexit 1\n")
    (fake / "smbd").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError, match="lab up") as failure:
        Lab(short_dir / "lab").up(slaves=1, seed=False)
    hosts = short_dir / "lab" / "hosts"
    assert "smbd exited with code 1" in str(failure.value)  # the host's log tail is in the error
    assert [p for p in hosts.glob("*/share") if os.path.ismount(p)] == []
    assert subprocess.run(["pgrep", "-f", str(short_dir)], capture_output=True).stdout == b""


def _smb_conn_with(monkeypatch, host: str, **extra) -> str:
    key = f"AIRFLOW_CONN_DS_{host.upper()}_SMB"
    conn = json.loads(os.environ[key])
    conn["extra"] = {**conn.get("extra", {}), **extra}
    monkeypatch.setenv(key, json.dumps(conn))
    return f"ds_{host}_smb"


def test_share_hook_ends_a_stalled_call_at_the_connections_timeout(lab, monkeypatch):
    from ds_replication.hooks.share import DsShareHook, ShareNotAnswering

    conn_id = _smb_conn_with(monkeypatch, "slave1", timeout=2)
    (Path(lab.info["hosts"]["slave1"]["share_dir"]) / "stall.bin").write_bytes(b"x" * 1000)
    lab.fault("slave1", "smb_stall", match="stall.bin")
    started = time.monotonic()
    with (
        pytest.raises(ShareNotAnswering, match=r"ds_slave1_smb .*unanswered for 2 s"),
        DsShareHook(conn_id, "express") as hook,
    ):
        hook.lstat("stall.bin")
    assert time.monotonic() - started < 60  # smbprotocol alone would wait 20 minutes
    assert faults.armed(lab.dir, "slave1") == []
    with DsShareHook(conn_id, "express") as hook:  # a fresh connection answers again
        assert hook.lstat("stall.bin").st_size == 1000


@pytest.mark.parametrize("bad", ["soon", 0, -5])
def test_share_hook_refuses_a_bad_timeout_extra(lab, monkeypatch, bad):
    from ds_replication.hooks.share import DsShareHook

    conn_id = _smb_conn_with(monkeypatch, "slave1", timeout=bad)
    with pytest.raises(ValueError, match=r"connection ds_slave1_smb: extra 'timeout'"), DsShareHook(conn_id, "express"):
        pass
