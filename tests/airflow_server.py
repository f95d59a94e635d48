"""A private Airflow whose components (api-server, scheduler, dag-processor, ...) run as
subprocesses of a test, the demo or a benchmark, each in its own process group, on free ports.
Its metadata DB is SQLite, or PostgreSQL when the environment's SQL_ALCHEMY_CONN says so
(the CeleryExecutor test); `query` reads either.

Used by the scheduler tests, the UI and the benchmarks: one way to start and stop Airflow.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.airflow_env import PYTHON, REPO
from tests.lab.smb import free_port

RUN_TIMEOUT = 600  # seconds a group of runs may take before the test fails with the logs
READY_TIMEOUT = 180
FINISHED = ("success", "failed")
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
}


def parse_time(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _db_errors() -> tuple[type[Exception], ...]:
    """What a read of the metadata DB raises while it is busy or not yet migrated."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.OperationalError,)
    return (sqlite3.OperationalError, psycopg.Error)


DB_ERRORS = _db_errors()


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({path}: {error})"


def wait_worker_reported(
    scheduler_log: Path,
    dag_id: str,
    run_id: str,
    task_id: str,
    timeout: float = 120,
    check: Callable[[], None] = lambda: None,
    describe: Callable[[], str] = lambda: "",
    try_number: int | None = None,
) -> None:
    """Until the scheduler has handled the executor's report that the task's process ended (its
    "TaskInstance Finished" line in `scheduler_log`, of try `try_number` if given). Airflow 3.3
    races when a waiting task is resumed before that: the late report of the old process fails
    the resumed try (`state mismatch`), and it is retried. `check` raises if the components
    died; `describe` says why."""
    tried = "" if try_number is None else rf"[^\n]* try_number={try_number},"
    line = re.compile(
        rf"TaskInstance Finished: dag_id={re.escape(dag_id)}, task_id={re.escape(task_id)}, "
        rf"run_id={re.escape(run_id)},{tried}"
    )
    deadline = time.monotonic() + timeout
    while not line.search(scheduler_log.read_text(errors="replace")):
        check()
        if time.monotonic() > deadline:
            raise AssertionError(f"no report of {task_id}'s process within {timeout}s\n{describe()}")
        time.sleep(0.5)


class Airflow:
    """A private Airflow whose components run as subprocesses of the test."""

    def __init__(
        self,
        root: Path,
        base_env: dict[str, str],
        components: dict[str, list[str]] | None = None,
        extra_env: dict[str, str] | None = None,
        component_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """`component_env`: more variables for one component only (by its name in `components`)."""
        self.root = root
        self.home = Path(base_env["AIRFLOW_HOME"])
        self.db = self.home / "airflow.db"
        self.logs = root / "component-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        bin_dir = str(Path(PYTHON).parent)
        self.env = {
            **base_env,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            # the scheduler serves task logs on this port (8793 unless told otherwise)
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            # one signing key for the task tokens, shared by the scheduler and the API server
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "PATH": os.pathsep.join([bin_dir, base_env.get("PATH", "")]),
            **(extra_env or {}),
        }
        self.components = components or COMPONENTS
        self.component_env = component_env or {}
        self.sql_url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        self.procs: dict[str, subprocess.Popen] = {}
        self.url = f"http://127.0.0.1:{self.port}"

    # --- signing in (Airflow's SimpleAuthManager) -------------------------------------------

    def add_user(self, user: str = "admin", role: str = "admin") -> str:
        """A user who can sign in (UI and `/auth/token`) with the password returned: written
        where SimpleAuthManager reads it, so the API server prints none. Before start()."""
        password = secrets.token_urlsafe(12)
        passwords = self.home / "simple_auth_manager_passwords.json"
        known = json.loads(passwords.read_text()) if passwords.exists() else {}
        passwords.parent.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({**known, user: password}) + "\n")
        passwords.chmod(0o600)
        users = [u for u in self.env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "").split(",") if u]
        self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join([*users, f"{user}:{role}"])
        self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)
        return password

    def token(self, user: str, password: str) -> str:
        """A bearer token for the REST API, as `POST /auth/token` gives it."""
        return self.rest("POST", "/auth/token", body={"username": user, "password": password})["access_token"]

    def rest(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        """One request to the API server; its JSON answer. An error status raises httpx.HTTPStatusError."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.request(method, self.url + path, json=body, headers=headers, timeout=60)
        response.raise_for_status()
        return response.json() if response.content else None

    # --- commands and the metadata DB -------------------------------------------------

    def cli(self, *args: str, timeout: int = 120) -> str:
        proc = subprocess.run(
            [PYTHON, "-m", "airflow", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def cli_together(self, *commands: list[str], timeout: int = 120) -> None:
        """Several CLI commands started at the same moment; every one must succeed."""
        procs = [
            subprocess.Popen(
                [PYTHON, "-m", "airflow", *args],
                env=self.env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        failures = []
        for args, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                failures.append(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{out}\n{err}")
        if failures:
            raise RuntimeError("\n".join(failures))

    def query(self, sql: str, *params) -> list[sqlite3.Row]:
        """Rows of a read-only query (`?` placeholders), each indexed by column name."""
        if self.sql_url.startswith("postgresql"):
            return self._query_postgres(sql, *params)
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            con.row_factory = sqlite3.Row
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def _query_postgres(self, sql: str, *params) -> list[dict]:
        import psycopg
        from psycopg.rows import dict_row

        url = re.sub(r"^postgresql\+\w+://", "postgresql://", self.sql_url)
        with psycopg.connect(
            url, row_factory=dict_row, connect_timeout=10, options="-c default_transaction_read_only=on"
        ) as con:
            return con.execute(sql.replace("%", "%%").replace("?", "%s"), params).fetchall()

    # --- components -----------------------------------------------------------------------

    def start(self) -> None:
        for name, args in self.components.items():
            with open(self.logs / f"{name}.log", "wb") as log:
                self.procs[name] = subprocess.Popen(
                    [PYTHON, "-m", "airflow", *args],
                    env={**self.env, **self.component_env.get(name, {})},
                    cwd=self.root,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, stopped with killpg
                )

    def check_alive(self) -> None:
        dead = {name: proc.returncode for name, proc in self.procs.items() if proc.poll() is not None}
        if dead:
            raise AssertionError(f"Airflow components exited: {dead}\n{self.log_tails()}")

    def wait_ready(self, dag_ids: tuple[str, ...]) -> None:
        """The API server listens, the scheduler heartbeats, the DAGs are parsed into the DB."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_alive()
            if self._listening() and self._scheduler_running() and self._dags_parsed(dag_ids):
                return
            time.sleep(1)
        raise AssertionError(f"Airflow not ready within {READY_TIMEOUT}s\n{self.log_tails()}")

    def _listening(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def _scheduler_running(self) -> bool:
        with contextlib.suppress(*DB_ERRORS):
            return bool(self.query("SELECT 1 FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'"))
        return False

    def _dags_parsed(self, dag_ids: tuple[str, ...]) -> bool:
        marks = ", ".join("?" for _ in dag_ids)
        with contextlib.suppress(*DB_ERRORS):
            rows = self.query(f"SELECT DISTINCT dag_id FROM serialized_dag WHERE dag_id IN ({marks})", *dag_ids)
            return len(rows) == len(dag_ids)
        return False

    def stop(self) -> None:
        """Each component's process group, then anything it started in a group of its own."""
        descendants: list[psutil.Process] = []
        for proc in self.procs.values():
            with contextlib.suppress(psutil.Error):
                descendants += psutil.Process(proc.pid).children(recursive=True)
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for proc in self.procs.values():  # stragglers left in the groups once their leader exited
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(descendants, timeout=10)
        for child in alive:  # task processes run in their own process groups
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(alive, timeout=10)

    # --- runs -------------------------------------------------------------------------------

    def runs(self, run_ids: list[str]) -> dict[str, sqlite3.Row]:
        marks = ", ".join("?" for _ in run_ids)
        rows = self.query(
            f"SELECT dag_id, run_id, run_type, state, queued_at, start_date, end_date FROM dag_run "
            f"WHERE run_id IN ({marks})",
            *run_ids,
        )
        return {row["run_id"]: row for row in rows}

    def task_instances(self, run_id: str) -> dict[str, sqlite3.Row]:
        rows = self.query(
            "SELECT task_id, state, try_number, pool, scheduled_dttm, queued_dttm, start_date, end_date "
            "FROM task_instance WHERE run_id = ?",
            run_id,
        )
        return {row["task_id"]: row for row in rows}

    def wait_finished(self, run_ids: list[str], timeout: int = RUN_TIMEOUT) -> dict[str, sqlite3.Row]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(*DB_ERRORS):  # the DB may be locked for a moment
                runs = self.runs(run_ids)
                if len(runs) == len(run_ids) and all(r["state"] in FINISHED for r in runs.values()):
                    return runs
            time.sleep(2)
        raise AssertionError(f"runs {run_ids} not finished within {timeout}s\n{self.describe(run_ids)}")

    def wait_worker_reported(self, dag_id: str, run_id: str, task_id: str, timeout: float = 120) -> None:
        """Until the scheduler has handled the executor's report that the task's process ended
        (module function `wait_worker_reported`)."""
        wait_worker_reported(
            self.logs / "scheduler.log",
            dag_id,
            run_id,
            task_id,
            timeout,
            check=self.check_alive,
            describe=lambda: self.describe([run_id]),
        )

    def describe(self, run_ids: list[str]) -> str:
        """Runs, task states, failed task logs and the components' log tails, for a failure message."""
        out = []
        with contextlib.suppress(*DB_ERRORS):
            for run_id, run in self.runs(run_ids).items():
                out.append(f"{run['dag_id']} {run_id}: {run['state']} ({run['start_date']} .. {run['end_date']})")
                for task_id, ti in self.task_instances(run_id).items():
                    out.append(f"  {task_id}: {ti['state']} try {ti['try_number']}")
                    if ti["state"] not in ("success", None):
                        for log in sorted((self.home / "logs").glob(f"**/run_id={run_id}/task_id={task_id}/*.log")):
                            out.append(f"  --- {log.name}\n{tail(log, 30)}")
        return "\n".join(out) + "\n" + self.log_tails()

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def log_tails(self) -> str:
        return "\n".join(f"--- {name} ---\n{tail(self.logs / f'{name}.log')}" for name in self.procs)
