"""A private Airflow installation for tests and the demo: its own AIRFLOW_HOME and metadata DB,
the project's dags/ and plugins/, the estate file and connections of a DS lab."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
    marker = "DAGRUN-RESULT "
    lines = [line for line in proc.stdout.splitlines() if line.startswith(marker)]
    if not lines:
        raise RuntimeError(
            f"dag run of {dag_id} produced no result (exit {proc.returncode}):\n"
            f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    result = json.loads(lines[-1][len(marker) :])
    result["log"] = proc.stdout + proc.stderr
    return result
