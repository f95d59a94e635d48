"""Driving a DS lab from tests and the demo, through its command line (tests/lab/README.md)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.airflow_env import PYTHON, REPO, read_connections_env


class Lab:
    def __init__(self, lab_dir: Path) -> None:
        self.dir = Path(lab_dir)

    def _run(self, *args: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [PYTHON, "-m", "tests.lab", args[0], "--dir", str(self.dir), *args[1:]],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"lab {args[0]} failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
        return proc

    def up(
        self,
        slaves: int = 2,
        identity: bool = False,
        seed: bool = True,
        schema: str = "default",
        live: bool = False,
        rate: float | None = None,
        options: tuple[str, ...] = (),
    ) -> Lab:
        """`options`: more `up` arguments, e.g. ("--smb1", "slave2")."""
        args = ["up", "--slaves", str(slaves), "--schema", schema, *options]
        if identity:
            args.append("--identity")
        if seed:
            args.append("--seed")
        if live:
            args.append("--live")
        if rate is not None:
            args += ["--rate", str(rate)]
        self._run(*args, timeout=300)
        return self

    def live_start(self, hosts: list[str] | None = None, rate: float | None = None) -> None:
        """Start the live DS engine (tests/lab/ds_engine.py) on the hosts, default every host."""
        from tests.lab import control

        self._in_process("live", control.live_start, self.dir, hosts or None, rate)

    def live_stop(self, hosts: list[str] | None = None) -> None:
        from tests.lab import control

        self._in_process("live", control.live_stop, self.dir, hosts or None)

    def down(self) -> None:
        self._run("down", timeout=120)

    @property
    def info(self) -> dict[str, Any]:
        return json.loads((self.dir / "lab.json").read_text())

    @property
    def config_path(self) -> Path:
        return self.dir / "replication.yaml"

    @property
    def connections_path(self) -> Path:
        return self.dir / "connections.env"

    def slaves(self) -> list[str]:
        return [h for h in self.info["hosts"] if h != "master"]

    def _in_process(self, command: str, function: Callable[..., Any], *args: Any) -> Any:
        """What `python -m tests.lab COMMAND` prints, parsed, from the same function run in this
        process: the tests call sql and mail thousands of times, and each command line's
        interpreter start costs about 0.4 s of CPU. A live engine started here is a child of
        the test process (it was the short-lived command's)."""
        from tests.lab import control
        from tests.lab.__main__ import _json_default

        try:
            value = function(*args)
        except control.LabError as error:
            raise RuntimeError(f"lab {command} failed: lab {command}: {error}") from None
        return json.loads(json.dumps(value, default=_json_default, ensure_ascii=False))

    def sql(self, host: str, batch: str) -> list[dict[str, Any]]:
        from tests.lab import control

        return self._in_process("sql", control.sql, self.dir, host, batch)

    def scalar(self, host: str, batch: str) -> Any:
        rows = self.sql(host, batch)
        return next(iter(rows[0].values())) if rows else None

    def shell(self, host: str, command: str) -> subprocess.CompletedProcess:
        return self._run("shell", host, command, check=False, timeout=300)

    def fault(self, host: str, name: str, times: int = 1, match: str = "") -> None:
        from tests.lab import faults

        self._in_process("fault", faults.arm, self.dir, host, name, times, match)

    def server(self, host: str, *args: str) -> dict[str, Any]:
        """Change what `host`'s SQL Server says about itself, e.g. ("--version", "8.00.2039")."""
        return json.loads(self._run("server", host, *args).stdout)

    def mail(self) -> list[dict[str, Any]]:
        from tests.lab import control

        return self._in_process("mail", control.mail, self.dir)

    @contextlib.contextmanager
    def connect(self, host: str, database: str = "express") -> Iterator[Any]:
        """A pymssql connection to the host's SQL Server (autocommit), closed on exit."""
        import pymssql

        info = self.info
        conn = pymssql.connect(
            server="127.0.0.1",
            port=str(info["hosts"][host]["sql_port"]),
            user=info["user"],
            password=info["password"],
            database=database,
            autocommit=True,
            login_timeout=10,
            timeout=60,
        )
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def requests(self, hosts: list[str]) -> Iterator[Callable[[], dict[str, list[dict[str, str]]]]]:
        """Record what `hosts` are asked while the block runs (tests/lab/requests_journal.py);
        yields a reader: host -> [{"protocol": "sql"|"winrm", "text": batch or command line}]."""
        from tests.lab import requests_journal

        dirs = {host: self.dir / "hosts" / host for host in hosts}
        for host_dir in dirs.values():
            (host_dir / requests_journal.FILE_NAME).write_text("")
        try:
            yield lambda: {host: requests_journal.read(host_dir) for host, host_dir in dirs.items()}
        finally:
            for host_dir in dirs.values():
                (host_dir / requests_journal.FILE_NAME).unlink(missing_ok=True)

    def schedule_task(self, host: str, name: str, run: str) -> None:
        """A scheduled task on `host`, as `schtasks /query` lists it (tests/lab/cmdexe.py)."""
        from tests.lab.cmdexe import SCHEDULED_TASKS_FILE

        path = self.dir / "hosts" / host / SCHEDULED_TASKS_FILE
        tasks = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps([*tasks, {"name": name, "run": run}]))

    def unschedule_tasks(self, host: str) -> None:
        from tests.lab.cmdexe import SCHEDULED_TASKS_FILE

        (self.dir / "hosts" / host / SCHEDULED_TASKS_FILE).unlink(missing_ok=True)

    def table_exists(self, host: str, table: str) -> bool:
        return bool(self.scalar(host, f"SELECT COUNT(*) AS n FROM sys.tables WHERE name = '{table}'"))


@contextlib.contextmanager
def lab_in_environ(name: str, *, seed: bool = True) -> Iterator[Lab]:
    """A one-slave lab whose connections the providers' hooks find in os.environ while it is up."""
    root = Path(tempfile.mkdtemp(prefix=f"ds-lab-{name}-"))
    lab = Lab(root / "lab").up(slaves=1, seed=seed)
    old_env = dict(os.environ)
    os.environ.update(read_connections_env(lab.connections_path))
    try:
        yield lab
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        # smbclient keeps its connections in a process-wide pool: close them, or the lab's down
        # finds its SMB port still held by this process
        import smbclient

        smbclient.reset_connection_cache()
        lab.down()
        shutil.rmtree(root, ignore_errors=True)
