"""A private Airflow installation for tests and the demo: its own AIRFLOW_HOME and metadata DB,
the project's dags/ and plugins/, the estate file and connections of a DS lab."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def read_connections_env(path: Path) -> dict[str, str]:
    """`KEY='json'` lines of a lab's connections.env."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.removeprefix("export ").strip()] = value
    return env


def airflow_env(home: Path, config: Path, connections: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(connections or {})
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "DS_REPLICATION_CONFIG": str(config),
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        }
    )
    return env


def _airflow_db_migrate(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)


def _sqlite_home(env: dict[str, str]) -> Path | None:
    """The AIRFLOW_HOME of `env` when its metadata DB is airflow.db inside it (as airflow_env makes it)."""
    home = Path(env["AIRFLOW_HOME"])
    return home if env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") == f"sqlite:///{home}/airflow.db" else None


_migrated: Path | None = None  # this process's freshly migrated SQLite home, copied by migrate()


def migrate(env: dict[str, str]) -> None:
    """`airflow db migrate` for `env`'s metadata DB. A SQLite DB is migrated once per process,
    into a home of its own, and copied: the same tables and rows (pools, log templates), the
    same airflow.cfg with the paths of the new home (the first Airflow process in a home writes
    one otherwise, and components started together must not each write their own secrets)."""
    global _migrated
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if _sqlite_home(env) is None:  # e.g. PostgreSQL (the CeleryExecutor test)
        _airflow_db_migrate(env)
        return
    if _migrated is None:
        template = Path(tempfile.mkdtemp(prefix="ds-airflow-migrated-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        template_env = {**env, "AIRFLOW_HOME": str(template)}
        template_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{template}/airflow.db"
        _airflow_db_migrate(template_env)
        _migrated = template
    shutil.copyfile(_migrated / "airflow.db", home / "airflow.db")
    cfg = (_migrated / "airflow.cfg").read_text()
    (home / "airflow.cfg").write_text(cfg.replace(str(_migrated), str(home)))


RESULT_MARKER = "DAGRUN-RESULT "


def run_dag(env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None, timeout: int = 900) -> dict:
    """Run one DagRun with `dag.test()` in a fresh process; its task states and XComs."""
    proc = subprocess.run(
        [PYTHON, "-m", "tests.e2e.run_dag", dag_id, "--conf", json.dumps(conf or {})],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    marker = RESULT_MARKER
    lines = [line for line in proc.stdout.splitlines() if line.startswith(marker)]
    if not lines:
        raise RuntimeError(
            f"dag run of {dag_id} produced no result (exit {proc.returncode}):\n"
            f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    result = json.loads(lines[-1][len(marker) :])
    result["log"] = proc.stdout + proc.stderr
    return result


class DagRunner:
    """Runs DagRuns with `dag.test()` one after another in one long-lived process
    (`tests.e2e.run_dag --serve`), each with its own log: what run_dag returns, for a fraction
    of the CPU (Airflow's imports and its in-process Execution API start once). Every run parses
    the DAG file again; all runs share `env`. The process is started at the first run (again
    after one died) and ended by stop()."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self._numbers = itertools.count(1)

    def _start(self) -> subprocess.Popen:
        with open(self.logs / "runner.log", "ab") as log:
            return subprocess.Popen(
                [PYTHON, "-m", "tests.e2e.run_dag", "--serve"],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )

    def run(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: int = 900) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        log = self.logs / f"run-{next(self._numbers)}.log"
        request = {"dag_id": dag_id, "conf": conf or {}, "log": str(log)}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        line = self._result_line(timeout)
        text = log.read_text(errors="replace") if log.exists() else ""
        result = json.loads(line[len(RESULT_MARKER) :]) if line and line.startswith(RESULT_MARKER) else None
        if result is None:
            exit_code = self.proc.poll()
            raise RuntimeError(f"dag run of {dag_id} produced no result (runner exit {exit_code}):\n{text[-6000:]}")
        result["log"] = text
        return result

    def _result_line(self, timeout: float) -> str | None:
        """The runner's next line on stdout; None (and the runner stopped) if it ends or hangs."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.stop()
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return None
                data += chunk
        return data.decode(errors="replace").strip()

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.stdin:
            proc.stdin.close()  # the runner's loop ends at the end of its input
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a runner that does not end: nothing of a finished run is lost
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
