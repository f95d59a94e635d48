"""Starting, driving and stopping a lab: the work behind `python -m tests.lab ...`."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.lab import ds_schema
from tests.lab import seed as sample
from tests.lab.host import host_paths
from tests.lab.smb import check_socket_room, log_tail
from tests.lab.smtp_sink import read_messages

USER = "dslab"
READY_TIMEOUT = 120  # generous: a CI machine busy with Airflow runs starts hosts slowly
REPO = Path(__file__).resolve().parents[2]


class LabError(RuntimeError):
    pass


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: down stops smbd with it
        )


def _wait_for(path: Path, process: subprocess.Popen, what: str, log: Path) -> dict:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if process.poll() is not None:
            raise LabError(f"{what} exited with code {process.returncode}; {log} ends:\n{log_tail(log)}")
        time.sleep(0.05)
    raise LabError(f"{what} not ready within {READY_TIMEOUT} s; {log} ends:\n{log_tail(log)}")


def up(
    lab_dir: Path,
    slaves: int,
    identity: bool = False,
    seed: bool = False,
    schema: str = "default",
    live: bool = False,
    rate: float | None = None,
    smb1: tuple[str, ...] = (),
    history_rows: int = 0,
) -> dict:
    """`smb1`: hosts whose smbd speaks SMB1 only. `history_rows`: history rows added to every
    seeded slave (seed.seed_history)."""
    started = time.monotonic()
    lab_dir = lab_dir.resolve()
    if schema not in ds_schema.SCHEMAS:
        raise LabError(f"unknown schema {schema!r}; schemas: {', '.join(ds_schema.SCHEMAS)}")
    if identity and schema == "reused_keys":
        raise LabError("schema reused_keys assigns schedule_id itself (MAX + 1): it cannot be combined with --identity")
    if live:
        _check_rate(rate)
    if history_rows and not seed:
        raise LabError("--history-rows adds history to the sample estate: it needs --seed")
    if history_rows < 0:
        raise LabError(f"--history-rows must be 0 or more, not {history_rows}")
    if (lab_dir / "lab.json").exists():
        raise LabError(f"a lab already runs in {lab_dir} (run down first)")
    names = ["master", *[f"slave{n}" for n in range(1, slaves + 1)]]
    unknown = sorted(set(smb1) - set(names))
    if unknown:
        raise LabError(f"--smb1 names no host of this lab: {', '.join(unknown)}; hosts: {', '.join(names)}")
    try:  # before anything is created: smbd would exit with no message
        for name in names:
            check_socket_room(host_paths(lab_dir, name)["dir"])
    except ValueError as error:
        raise LabError(str(error)) from None
    lab_dir.mkdir(parents=True, exist_ok=True)
    # a lab that ran here before left its ready files: waiting on them would take its ports and pids
    for stale in [lab_dir / "smtp.json", *(host_paths(lab_dir, n)["dir"] / "ready.json" for n in names)]:
        stale.unlink(missing_ok=True)
    credentials = {"user": USER, "password": secrets.token_urlsafe(12)}
    (lab_dir / "credentials.json").write_text(json.dumps(credentials))
    processes: dict[str, subprocess.Popen] = {}
    try:
        port_file = lab_dir / "smtp.json"
        processes["smtp"] = _spawn(
            ["tests.lab.smtp_sink", "--dir", str(lab_dir), "--port-file", str(port_file)],
            lab_dir / "smtp.log",
        )
        for name in names:
            args = ["tests.lab.host", "--dir", str(lab_dir), "--name", name, "--schema", schema]
            args += ["--identity"] if identity else []
            args += ["--smb1"] if name in smb1 else []
            processes[name] = _spawn(args, host_paths(lab_dir, name)["dir"] / "process.log")
        smtp = _wait_for(port_file, processes["smtp"], "the SMTP sink", lab_dir / "smtp.log")
        hosts = {}
        for name in names:
            host_dir = host_paths(lab_dir, name)["dir"]
            hosts[name] = _wait_for(host_dir / "ready.json", processes[name], name, host_dir / "process.log")
    except BaseException:
        for process in processes.values():
            _stop_group(process.pid)
        _unmount_shares([host_paths(lab_dir, n)["share"] for n in names])
        raise
    info = {**credentials, "smtp_port": smtp["smtp_port"], "smtp_pid": processes["smtp"].pid, "hosts": hosts}
    (lab_dir / "lab.json").write_text(json.dumps(info, indent=2))
    if seed:
        try:
            sample.seed_master(Path(hosts["master"]["db_path"]))
            for n, name in enumerate(names[1:], start=1):
                sample.seed_slave(Path(hosts[name]["db_path"]), n)
                sample.seed_history(Path(hosts[name]["db_path"]), history_rows)
        except BaseException:  # a lab that failed to seed is not left running
            down(lab_dir)
            raise
    _write_connections(lab_dir, info)
    _write_estate(lab_dir, names)
    if live:
        try:
            live_start(lab_dir, rate=rate)
        except BaseException:
            down(lab_dir)
            raise
    return {"seconds": time.monotonic() - started, "hosts": names}


def _write_connections(lab_dir: Path, info: dict) -> None:
    lines = ["# Airflow connections for this lab: set -a; . ./connections.env; set +a"]
    for name, host in info["hosts"].items():
        base = {"host": "127.0.0.1", "login": info["user"], "password": info["password"]}
        conns = {
            "winrm": {
                "conn_type": "winrm",
                **base,
                "extra": {
                    "endpoint": f"http://127.0.0.1:{host['winrm_port']}/wsman",
                    "transport": "ntlm",
                    "message_encryption": "never",
                    "operation_timeout_sec": 5,
                    "read_timeout_sec": 10,
                },
            },
            "mssql": {
                "conn_type": "mssql",
                **base,
                "port": host["sql_port"],
                "schema": "express",
                "extra": {"login_timeout": 10, "timeout": 120},
            },
            "smb": {"conn_type": "samba", **base, "port": host["smb_port"], "schema": "express"},
        }
        for kind, conn in conns.items():
            lines.append(f"AIRFLOW_CONN_DS_{name.upper()}_{kind.upper()}='{json.dumps(conn)}'")
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": info["smtp_port"],
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@ds-lab.local"},
    }
    lines.append(f"AIRFLOW_CONN_SMTP_DEFAULT='{json.dumps(smtp)}'")
    (lab_dir / "connections.env").write_text("\n".join(lines) + "\n")


def _write_estate(lab_dir: Path, names: list[str]) -> None:
    import yaml

    def host(name: str) -> dict:
        return {
            "name": name,
            "winrm_conn_id": f"ds_{name}_winrm",
            "mssql_conn_id": f"ds_{name}_mssql",
            "smb_conn_id": f"ds_{name}_smb",
        }

    estate = {
        "defaults": {
            "schedule": "0 2 * * *",
            "folders": [{"name": "Global", "subfolders": True}, {"name": "Drivers", "subfolders": False}],
            "alert_emails": ["ds-admins@ds-lab.local"],
            "smtp_conn_id": "smtp_default",
            "alert_from": "airflow@ds-lab.local",
            # the lab is for trying things out: its DAGs need no unpausing
            "paused_on_first_deploy": False,
            # the seed's slaves hold a job the master lacks, so every first night would wait for an
            # answer: the lab's nights run unattended (tests, demo); the change-control tests and
            # anyone trying the question set on_local_changes or always
            "approval": "never",
        },
        "master": {**host(names[0]), "export_slots": 2},
        "slaves": [host(n) for n in names[1:]],
    }
    header = "# The estate of a DS lab, written by `python -m tests.lab up`.\n"
    (lab_dir / "replication.yaml").write_text(header + yaml.safe_dump(estate, sort_keys=False, allow_unicode=True))


def live_start(lab_dir: Path, hosts: list[str] | None = None, rate: float | None = None) -> dict[str, int]:
    """Start the live DS engine (ds_engine.py) on the hosts (default: every host); their pids."""
    lab_dir = lab_dir.resolve()
    info = _info(lab_dir)
    names = _host_names(info, hosts)
    running = [n for n in names if info["hosts"][n].get("engine_pid")]
    if running:
        raise LabError(f"the live engine already runs on {', '.join(running)} (live stop first)")
    _check_rate(rate)
    started: dict[str, int] = {}
    for name in names:
        host_dir = host_paths(lab_dir, name)["dir"]
        (host_dir / "engine.ready").unlink(missing_ok=True)
        args = ["tests.lab.ds_engine", "--dir", str(lab_dir), "--name", name]
        args += ["--rate", str(rate)] if rate is not None else []
        process = _spawn(args, host_dir / "engine.log")
        try:
            _wait_for(host_dir / "engine.ready", process, f"the live engine of {name}", host_dir / "engine.log")
        except BaseException:
            _stop_group(process.pid)
            raise
        info["hosts"][name]["engine_pid"] = started[name] = process.pid
        _save_info(lab_dir, info)  # at once: down finds every engine started so far
    return started


def _check_rate(rate: float | None) -> None:
    if rate is not None and not rate > 0:
        raise LabError(f"rate must be writes per second above 0, not {rate}")


def live_stop(lab_dir: Path, hosts: list[str] | None = None) -> list[str]:
    """Stop the live engine on the hosts (default: every host); the hosts it was running on."""
    info = _info(lab_dir)
    stopped = []
    for name in _host_names(info, hosts):
        pid = info["hosts"][name].pop("engine_pid", None)
        if pid:
            _stop_group(pid)
            stopped.append(name)
    _save_info(lab_dir, info)
    return stopped


def _host_names(info: dict, hosts: list[str] | None) -> list[str]:
    unknown = [h for h in hosts or [] if h not in info["hosts"]]
    if unknown:
        raise LabError(f"no host {', '.join(map(repr, unknown))}; hosts: {', '.join(info['hosts'])}")
    return list(hosts or info["hosts"])


def _save_info(lab_dir: Path, info: dict) -> None:
    tmp = lab_dir / "lab.json.tmp"
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(lab_dir / "lab.json")


def _info(lab_dir: Path) -> dict:
    path = lab_dir / "lab.json"
    if not path.exists():
        raise LabError(f"no lab in {lab_dir} (lab.json missing)")
    return json.loads(path.read_text())


def _host(lab_dir: Path, name: str) -> tuple[dict, dict]:
    info = _info(lab_dir)
    if name not in info["hosts"]:
        raise LabError(f"no host {name!r}; hosts: {', '.join(info['hosts'])}")
    return info, info["hosts"][name]


def sql(lab_dir: Path, name: str, batch: str) -> list[dict]:
    import pymssql

    info, host = _host(lab_dir, name)
    try:
        conn = pymssql.connect(
            server="127.0.0.1",
            port=str(host["sql_port"]),
            user=info["user"],
            password=info["password"],
            database="express",
            login_timeout=10,
            timeout=120,
            autocommit=True,
        )
    except pymssql.Error as error:
        raise LabError(_sql_message(error)) from None
    try:
        cursor = conn.cursor(as_dict=True)
        cursor.execute(batch)
        rows = cursor.fetchall() if cursor.description else []
        return [dict(r) for r in rows]
    except pymssql.Error as error:
        raise LabError(_sql_message(error)) from None
    finally:
        conn.close()


def server(
    lab_dir: Path,
    name: str,
    version: str | None = None,
    edition: str | None = None,
    data_mb: float | None = None,
    log_mb: float | None = None,
    log_growth_mb: float | None = None,
    nested_triggers: int | None = None,
    recovery_model: str | None = None,
) -> dict:
    """Change what HOST's SQL Server says about itself (tests/lab/tsql/server.py); the facts now."""
    import re
    import sqlite3

    from tests.lab.tsql import server as facts

    _, host = _host(lab_dir, name)
    if version is not None and not re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{1,5}(\.\d{1,5})?", version):
        raise LabError(f"--version {version!r} is not a SQL Server product version such as 8.00.2039 or 9.00.5000.00")
    sizes = {"--data-mb": data_mb, "--log-mb": log_mb, "--log-growth-mb": log_growth_mb}
    for option, mb in sizes.items():
        if mb is not None and mb < 0:
            raise LabError(f"{option} must be 0 or more, not {mb}")
    if nested_triggers not in (None, 0, 1):
        raise LabError(f"--nested-triggers must be 0 or 1, not {nested_triggers}")

    def pages(mb: float | None) -> str | None:
        return None if mb is None else str(round(mb * 1024 * 1024 / 8192))

    db = sqlite3.connect(host["db_path"], timeout=30)
    try:
        return facts.set_facts(
            db,
            product_version=version,
            edition=edition,
            data_pages=pages(data_mb),
            log_pages=pages(log_mb),
            log_growth_pages=pages(log_growth_mb),
            nested_triggers=None if nested_triggers is None else str(nested_triggers),
            recovery_model=recovery_model,
        )
    finally:
        db.close()


def _sql_message(error: Exception) -> str:
    args = getattr(error, "args", ())
    if len(args) == 2 and isinstance(args[1], bytes):
        return f"SQL error {args[0]}: {args[1].decode(errors='replace').split('DB-Lib error')[0].strip()}"
    return str(error)


def shell(lab_dir: Path, name: str, line: str) -> tuple[int, str, str]:
    import winrm

    info, host = _host(lab_dir, name)
    session = winrm.Session(
        f"http://127.0.0.1:{host['winrm_port']}/wsman",
        auth=(info["user"], info["password"]),
        transport="ntlm",
        message_encryption="never",
        operation_timeout_sec=20,
        read_timeout_sec=30,
    )
    result = session.run_cmd(line)
    return result.status_code, result.std_out.decode("cp437"), result.std_err.decode("cp437")


def mail(lab_dir: Path) -> list[dict]:
    _info(lab_dir)
    return read_messages(lab_dir / "mail")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of ours is as good as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _stop_group(pid: int, timeout: float = 10) -> None:
    _stop_groups([pid], timeout)


def _stop_groups(pids: list[int], timeout: float = 10) -> None:
    """SIGTERM to each process group at once, then wait for them all: a host takes seconds to
    stop its servers, and the hosts need not wait for each other."""
    signalled = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            signalled.append(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in signalled):
        time.sleep(0.05)
    for pid in signalled:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _unmount_shares(share_dirs: list[Path]) -> None:
    """The hosts' tmpfs shares; a host stopped by a signal leaves its own mounted."""
    for share_dir in share_dirs:
        if os.path.ismount(share_dir):
            subprocess.run(["umount", "-l", str(share_dir)], capture_output=True)


def down(lab_dir: Path) -> list[str]:
    """Stop every process of the lab; what is still alive or listening afterwards."""
    info = _info(lab_dir)
    engines = [h["engine_pid"] for h in info["hosts"].values() if h.get("engine_pid")]
    servers = [info["smtp_pid"], *[h["pid"] for h in info["hosts"].values()]]
    _stop_groups(engines)  # the live engines write to the hosts: stopped first
    _stop_groups(servers)
    pids = [*engines, *servers]
    _unmount_shares([Path(h["share_dir"]) for h in info["hosts"].values()])
    left = [f"pid {p}" for p in pids + [h.get("smbd_pid") for h in info["hosts"].values()] if p and _alive(p)]
    ports = [info["smtp_port"]] + [h[k] for h in info["hosts"].values() for k in ("sql_port", "winrm_port", "smb_port")]
    # the processes are gone; a port closes with them, though a loaded kernel may take a moment
    busy = [p for p in ports if _port_in_use(p)]
    deadline = time.monotonic() + 10
    while busy and time.monotonic() < deadline:
        time.sleep(0.05)
        busy = [p for p in busy if _port_in_use(p)]
    left += [f"port {p}" for p in busy]
    if not left:
        (lab_dir / "lab.json").rename(lab_dir / "lab.stopped.json")
    return left
